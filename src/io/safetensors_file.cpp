// SafetensorsFile (one mapped file) and SafetensorsCheckpoint (one file, or the
// shards of a `*.safetensors.index.json`).
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/fail.hpp"
#include "core/files.hpp"
#include "core/fs.hpp"
#include "gen/safetensors.hpp"
#include "io/mapped_file.hpp"
#include "io/safetensors_internal.hpp"

// POSIX calls rather than std::filesystem: libtorch.so exports its own copies of
// some std::filesystem functions, which can be bound instead of libstdc++'s.
namespace gen {

namespace st = io::st;
using io::MappedFile;

// ---- SafetensorsFile ----------------------------------------------------------

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.path_ = path;
  f.map_ = MappedFile::open(path);
  f.header_ = parse_safetensors_header(f.map_->data(), f.map_->size(), f.map_->size(), path);
  for (std::size_t i = 0; i < f.header_.tensors.size(); ++i)
    f.index_.emplace(f.header_.tensors[i].name, i);
  return f;
}

bool SafetensorsFile::contains(const std::string& name) const noexcept {
  return index_.count(name) != 0;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail(ErrorCode::NotFound, path_, "no tensor named " + st::quote(name));
  return header_.tensors[it->second];
}

void* SafetensorsFile::data(const std::string& name) const { return data(info(name)); }

void* SafetensorsFile::data(const TensorInfo& t) const {
  // Offsets were validated against the file size when it was opened; check
  // again in case `t` comes from elsewhere.
  const std::uint64_t base = 8 + header_.header_size;
  if (!map_ || t.end < t.begin || t.end > header_.data_size)
    fail(ErrorCode::InvalidArgument, path_, "tensor " + st::quote(t.name) + " is not in this file");
  return map_->data() + base + t.begin;
}

// ---- SafetensorsCheckpoint ------------------------------------------------------

namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

bool is_index_name(const std::string& name) { return ends_with(name, ".safetensors.index.json"); }

constexpr std::uint64_t kMaxIndexSize = 256ull << 20;

std::string file_name(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The folder part of `path` with its trailing slash ("" for a bare name).
std::string folder_prefix(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}


std::string read_small_file(const std::string& path) {
  return core::read_input(path, static_cast<std::size_t>(kMaxIndexSize), "safetensors index");
}

// A shard name from an index must stay inside the index's folder.
void check_shard_name(const std::string& index, const std::string& tensor, const std::string& shard) {
  bool ok = !shard.empty() && shard[0] != '/';
  std::size_t start = 0;
  while (ok && start <= shard.size()) {
    const auto slash = shard.find('/', start);
    const std::string part = shard.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part == "..") ok = false;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (!ok)
    fail(ErrorCode::InvalidFormat, index,
         "weight_map entry for tensor " + st::quote(tensor) + " names shard " + st::quote(shard) +
             "; shards must be relative paths inside the index's folder");
}

// weight_map: tensor name → shard file, parsed with duplicate keys refused.
std::map<std::string, std::string> read_weight_map(const std::string& index) {
  const std::string text = read_small_file(index);
  std::size_t bad = 0;
  if (!st::valid_utf8(reinterpret_cast<const std::uint8_t*>(text.data()), text.size(), bad))
    fail(ErrorCode::InvalidFormat, index, "not valid UTF-8 (bad byte at offset " + std::to_string(bad) + ")");

  if (text.find('\0') != std::string::npos)
    fail(ErrorCode::InvalidFormat, index, "not valid JSON: holds a NUL byte");
  // Track the keys of every open object to refuse duplicates (nlohmann keeps the
  // last one silently); refuse deep nesting as no index needs it.
  std::vector<std::set<std::string>> open_keys;
  std::string problem;
  auto callback = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (depth > 32) {
      if (problem.empty()) problem = "JSON nested deeper than 32 levels";
      throw Error(ErrorCode::InvalidFormat, index + ": " + problem);
    }
    if (event == E::object_start) open_keys.emplace_back();
    else if (event == E::object_end && !open_keys.empty()) open_keys.pop_back();
    else if (event == E::key && !open_keys.empty()) {
      const std::string k = parsed.get<std::string>();
      if (!open_keys.back().insert(k).second)
        throw Error(ErrorCode::InvalidFormat, index + ": key " + st::quote(k) + " appears twice");
    }
    return true;
  };
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text, callback, true, false);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorCode::InvalidFormat, index, std::string("not valid JSON: ") + e.what());
  }
  if (!doc.is_object()) fail(ErrorCode::InvalidFormat, index, "index is not a JSON object");
  auto wm = doc.find("weight_map");
  if (wm == doc.end()) fail(ErrorCode::InvalidFormat, index, "index has no weight_map");
  if (!wm->is_object())
    fail(ErrorCode::InvalidFormat, index, "weight_map must be an object of tensor name → shard file");
  std::map<std::string, std::string> out;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it.value().is_string())
      fail(ErrorCode::InvalidFormat, index,
           "weight_map entry for tensor " + st::quote(it.key()) + " is not a string");
    const std::string shard = it.value().get<std::string>();
    check_shard_name(index, it.key(), shard);
    out.emplace(it.key(), shard);
  }
  if (out.empty()) fail(ErrorCode::InvalidFormat, index, "weight_map lists no tensors");
  return out;
}

// A folder: its one index file, else its one .safetensors file.
std::string resolve_folder(const std::string& dir) {
  std::vector<std::string> indexes, files;
  DIR* d = ::opendir(dir.c_str());
  if (!d) fail(ErrorCode::Io, dir, std::string("cannot list folder: ") + std::strerror(errno));
  const std::string prefix = dir.back() == '/' ? dir : dir + "/";
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (is_index_name(name)) indexes.push_back(prefix + name);
    else if (ends_with(name, ".safetensors")) files.push_back(prefix + name);
  }
  ::closedir(d);
  if (indexes.size() == 1) return indexes[0];
  if (indexes.size() > 1)
    fail(ErrorCode::InvalidArgument, dir,
         "folder holds " + std::to_string(indexes.size()) + " *.safetensors.index.json files; name one");
  if (files.size() == 1) return files[0];
  if (files.empty()) fail(ErrorCode::NotFound, dir, "folder holds no .safetensors file");
  fail(ErrorCode::InvalidArgument, dir,
       "folder holds " + std::to_string(files.size()) + " .safetensors files and no index; name one");
}

}  // namespace

SafetensorsCheckpoint SafetensorsCheckpoint::open(const std::string& path) {
  SafetensorsCheckpoint c;
  c.path_ = path;
  std::string target = path;
  if (!path.empty() && core::is_dir(path)) target = resolve_folder(path);

  if (!is_index_name(file_name(target))) {
    c.files_.push_back(SafetensorsFile::open(target));
    for (const TensorInfo& t : c.files_[0].tensors()) c.where_.emplace(t.name, 0);
    return c;
  }

  const std::map<std::string, std::string> weight_map = read_weight_map(target);
  const std::string folder = folder_prefix(target);
  std::map<std::string, std::size_t> shard_index;  // shard name → index in files_
  for (const auto& kv : weight_map) {
    if (shard_index.count(kv.second)) continue;
    const std::string shard_path = folder + kv.second;
    try {
      c.files_.push_back(SafetensorsFile::open(shard_path));
    } catch (const Error& e) {
      throw Error(e.code(), std::string(e.what()) + " (shard listed in " + target + ")");
    }
    shard_index.emplace(kv.second, c.files_.size() - 1);
  }
  // No tensor may be in two shards; each must be where weight_map says.
  for (const auto& kv : shard_index) {
    const SafetensorsFile& f = c.files_[kv.second];
    for (const TensorInfo& t : f.tensors()) {
      auto prev = c.where_.find(t.name);
      if (prev != c.where_.end())
        fail(ErrorCode::InvalidFormat, target,
             "tensor " + st::quote(t.name) + " is in two shards: " +
                 st::quote(c.files_[prev->second].path()) + " and " + st::quote(f.path()));
      c.where_.emplace(t.name, kv.second);
    }
  }
  for (const auto& kv : c.where_) {
    const std::string& shard = c.files_[kv.second].path();
    auto listed = weight_map.find(kv.first);
    if (listed == weight_map.end())
      fail(ErrorCode::InvalidFormat, target,
           "tensor " + st::quote(kv.first) + " is in shard " + st::quote(shard) +
               " but not listed in weight_map");
    if (c.files_[shard_index.at(listed->second)].path() != shard)
      fail(ErrorCode::InvalidFormat, target,
           "tensor " + st::quote(kv.first) + " is listed in shard " + st::quote(listed->second) +
               " but found in " + st::quote(shard));
  }
  for (const auto& kv : weight_map)
    if (!c.where_.count(kv.first))
      fail(ErrorCode::InvalidFormat, target,
           "tensor " + st::quote(kv.first) + " is listed in weight_map but missing from shard " +
               st::quote(kv.second));
  return c;
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& kv : where_) out.push_back(kv.first);
  return out;  // std::map keeps them sorted
}

bool SafetensorsCheckpoint::contains(const std::string& name) const noexcept {
  return where_.count(name) != 0;
}

const TensorInfo& SafetensorsCheckpoint::info(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail(ErrorCode::NotFound, path_, "no tensor named " + st::quote(name));
  return files_[it->second].info(name);
}

void* SafetensorsCheckpoint::data(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail(ErrorCode::NotFound, path_, "no tensor named " + st::quote(name));
  return files_[it->second].data(name);
}

std::shared_ptr<MappedFile> SafetensorsCheckpoint::mapping(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail(ErrorCode::NotFound, path_, "no tensor named " + st::quote(name));
  return files_[it->second].mapping();
}

const std::map<std::string, std::string>& SafetensorsCheckpoint::metadata() const noexcept {
  static const std::map<std::string, std::string> kEmpty;
  return files_.empty() ? kEmpty : files_.front().metadata();
}

}  // namespace gen
