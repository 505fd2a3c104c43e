#include "pipeline/embedding_stage.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/fail.hpp"

namespace gen::pipeline {
namespace fs = std::filesystem;
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Candidate {
  std::string name, path;
  std::shared_ptr<const adapters::EmbeddingFile> file;  // read already (the explicit ones)
};

// The embedding files of a folder and its subfolders (symbolic links followed, as A1111's
// os.walk(followlinks=True)): .pt, .bin and .safetensors of any case, empty files left out.
// Sorted by path, so that of two files with one name the first in that order is used.
std::vector<fs::path> folder_files(const std::string& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  const auto opts = fs::directory_options::skip_permission_denied | fs::directory_options::follow_directory_symlink;
  for (fs::recursive_directory_iterator it(dir, opts, ec), end; !ec && it != end; it.increment(ec)) {
    if (it.depth() > 32) {  // a symbolic-link loop
      it.disable_recursion_pending();
      continue;
    }
    std::error_code fe;
    if (!it->is_regular_file(fe)) continue;
    const std::string ext = lower(it->path().extension().string());
    if (ext != ".pt" && ext != ".bin" && ext != ".safetensors") continue;
    if (it->file_size(fe) == 0 || fe) continue;
    out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::shared_ptr<const adapters::EmbeddingFile> EmbeddingStage::file(const std::string& path) {
  return files_.get(path, [](const std::string& p) { return adapters::read_embedding_file(p); });
}

std::shared_ptr<const PromptEmbeddings> EmbeddingStage::prepare(const Request& r, const std::vector<std::string>& prompts,
                                                                const TextEncoder& encoder, std::int64_t width,
                                                                const std::string& model, std::int64_t width2) {
  auto out = std::make_shared<PromptEmbeddings>();
  // The vectors for this model's encoder(s) (SDXL: one set each), the widths checked.
  const auto vectors_of = [&](const adapters::EmbeddingFile& f) {
    if (width2 > 0) return adapters::sdxl_vectors_for(f, width, width2, model);
    return std::pair<at::Tensor, at::Tensor>(adapters::vectors_for(f, width, model), at::Tensor());
  };
  // The candidates: the request's files first (read now: naming a file is asking for it), then
  // the folder's. A name already taken keeps its first file (A1111: one embedding per name).
  std::vector<Candidate> candidates;
  std::set<std::string> taken;
  std::error_code ec;
  for (std::size_t i = 0; i < r.embeddings.size(); ++i) {
    const std::string& path = r.embeddings[i];
    if (!fs::exists(path, ec))
      fail(ErrorCode::NotFound, "embeddings[" + std::to_string(i) + "]", "no such embedding file '" + path + "'");
    Candidate c{"", path, file(path)};
    c.name = c.file->name;
    vectors_of(*c.file);  // asked for by name: its width is checked now
    if (taken.insert(c.name).second) candidates.push_back(std::move(c));
  }
  const std::string& dir = r.embeddings_dir;
  if (!dir.empty()) {
    if (!fs::is_directory(dir, ec))
      fail(ErrorCode::NotFound, "embeddings_dir", "embeddings folder '" + dir + "' does not exist");
    for (const auto& p : folder_files(dir)) {
      const std::string name = p.stem().string();
      if (taken.insert(name).second) candidates.push_back({name, p.string(), nullptr});
    }
  }
  if (candidates.empty()) return out;

  // Which names the prompts use: every candidate's name as tokens, one vector each for now
  // (which names match does not depend on the vector counts).
  text::EmbeddingNames all;
  std::vector<std::vector<std::int32_t>> ids(candidates.size());
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    ids[i] = encoder.tokenizer->encode(candidates[i].name);
    all.add({ids[i], 1, static_cast<int>(i)});
  }
  TextEncoder probe = encoder;
  probe.embeddings = nullptr;
  text::PromptOptions opt = prompt_options(probe);
  opt.embeddings = &all;
  std::vector<int> used;
  for (const auto& p : prompts)
    for (int i : text::embeddings_named(*encoder.tokenizer, p, opt))
      if (std::find(used.begin(), used.end(), i) == used.end()) used.push_back(i);
  std::sort(used.begin(), used.end());  // registration order decides between equal names

  for (int i : used) {
    auto& c = candidates[static_cast<std::size_t>(i)];
    if (!c.file) c.file = file(c.path);
    const auto [v, v2] = vectors_of(*c.file);
    if (c.file->count > 75)
      fail(ErrorCode::Unsupported, c.file->path,
           "has " + std::to_string(c.file->count) + " vectors; a prompt window holds 75 tokens");
    const int index = static_cast<int>(out->vectors.size());
    out->names.add({ids[static_cast<std::size_t>(i)], static_cast<int>(c.file->count), index});
    out->vectors.push_back(v);
    out->vectors2.push_back(v2);
    std::string label;
    for (char ch : c.name)
      if (ch != ':' && ch != ',') label.push_back(ch);
    out->labels.push_back(label + ": " + adapters::embedding_short_hash(c.file->path));
  }
  return out;
}

std::string ti_hashes_text(const PromptEmbeddings& embeddings, const std::vector<int>& used) {
  std::string out;
  for (int i : used) out += (out.empty() ? "" : ", ") + embeddings.labels.at(static_cast<std::size_t>(i));
  return out;
}

}  // namespace gen::pipeline
