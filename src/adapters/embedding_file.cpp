#include "adapters/embedding_file.hpp"

#include <ATen/ATen.h>

#include <filesystem>
#include <mutex>
#include <tuple>
#include <vector>

#include "core/fail.hpp"
#include "core/file_cache.hpp"
#include "core/sha256.hpp"
#include "tensor/tensor_file.hpp"

namespace gen::adapters {
namespace fs = std::filesystem;
namespace {

std::string shape_text(const at::Tensor& t) {
  std::string out = "[";
  for (int64_t i = 0; i < t.dim(); ++i) out += (i ? ", " : "") + std::to_string(t.size(i));
  return out + "]";
}

// The family whose text encoder has `width` (for messages).
std::string family_of_width(std::int64_t width) {
  switch (width) {
    case 768: return " (SD 1.x)";
    case 1024: return " (SD 2.x)";
    case 2048: return " (SDXL)";
    default: return "";
  }
}

// One tensor of the file as [n, C] float32, owning its memory (not a view of the mapping).
at::Tensor vectors_of(const std::string& path, const std::string& name, const at::Tensor& t) {
  if (!t.is_floating_point())
    fail(ErrorCode::InvalidFormat, path, "tensor '" + name + "' is not floating point (" +
                                             std::string(c10::toString(t.scalar_type())) + ")");
  if (t.dim() != 1 && t.dim() != 2)
    fail(ErrorCode::InvalidFormat, path,
         "tensor '" + name + "' has shape " + shape_text(t) + "; an embedding is [C] or [vectors, C]");
  auto v = t.dim() == 1 ? t.unsqueeze(0) : t;
  if (v.size(0) == 0 || v.size(1) == 0) fail(ErrorCode::InvalidFormat, path, "tensor '" + name + "' is empty " + shape_text(t));
  v = v.to(at::kFloat).contiguous().clone();
  if (!at::isfinite(v).all().item<bool>())
    fail(ErrorCode::InvalidFormat, path, "tensor '" + name + "' holds NaN or infinite values");
  return v;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

}  // namespace

std::int64_t EmbeddingFile::width() const {
  std::int64_t w = 0;
  for (const auto& [k, v] : vectors) w += v.size(1);
  return w;
}

EmbeddingFile parse_embedding_tensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors) {
  EmbeddingFile e;
  e.path = path;
  e.name = fs::path(path).stem().string();
  std::vector<std::string> terms;  // A1111's string_to_param entries (flattened as string_to_param.<key>)
  for (const auto& [name, t] : tensors)
    if (starts_with(name, "string_to_param.")) terms.push_back(name);
  if (!terms.empty()) {
    if (terms.size() != 1)
      fail(ErrorCode::InvalidFormat, path,
           "its string_to_param holds " + std::to_string(terms.size()) +
               " tensors; an embedding file holds one term (A1111 refuses it the same way)");
    e.layout = "a1111";
    e.vectors[""] = vectors_of(path, terms[0], tensors.at(terms[0]));
  } else if (tensors.count("clip_l") && tensors.count("clip_g")) {
    e.layout = "sdxl";
    e.vectors["clip_l"] = vectors_of(path, "clip_l", tensors.at("clip_l"));
    e.vectors["clip_g"] = vectors_of(path, "clip_g", tensors.at("clip_g"));
    if (e.vectors["clip_l"].size(0) != e.vectors["clip_g"].size(0))
      fail(ErrorCode::InvalidFormat, path,
           "its clip_l " + shape_text(e.vectors["clip_l"]) + " and clip_g " + shape_text(e.vectors["clip_g"]) +
               " have different numbers of vectors");
  } else if (tensors.size() == 1) {  // emb_params, or diffusers' {token: vectors}
    e.layout = "single";
    e.vectors[""] = vectors_of(path, tensors.begin()->first, tensors.begin()->second);
  } else if (tensors.empty()) {
    fail(ErrorCode::InvalidFormat, path,
         "holds no embedding tensor (string_to_param, emb_params, clip_l + clip_g, or one diffusers token) — is it "
         "a textual-inversion embedding?");
  } else {
    std::string list;
    std::size_t k = 0;
    for (const auto& [name, t] : tensors) {
      if (k++ == 4) {
        list += ", ...";
        break;
      }
      list += (list.empty() ? "" : ", ") + name;
    }
    fail(ErrorCode::InvalidFormat, path,
         "holds " + std::to_string(tensors.size()) + " tensors (" + list +
             ") and no string_to_param: an embedding file holds one (emb_params, or one diffusers token)");
  }
  e.count = e.vectors.begin()->second.size(0);
  return e;
}

EmbeddingFile read_embedding_file(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {  // a diffusers concept folder: learned_embeds.safetensors / .bin
    for (const char* name : {"learned_embeds.safetensors", "learned_embeds.bin"})
      if (fs::is_regular_file(fs::path(path) / name, ec)) {
        auto e = parse_embedding_tensors((fs::path(path) / name).string(), read_tensor_file((fs::path(path) / name).string()).tensors);
        e.name = fs::path(path).filename().string();
        return e;
      }
    fail(ErrorCode::NotFound, path, "a folder without learned_embeds.safetensors or learned_embeds.bin");
  }
  return parse_embedding_tensors(path, read_tensor_file(path).tensors);
}

const at::Tensor& vectors_for(const EmbeddingFile& e, std::int64_t width, const std::string& model) {
  const auto it = e.vectors.find("");
  if (it == e.vectors.end() || it->second.size(1) != width) {
    std::string what = "is an embedding of width " + std::to_string(e.width()) + family_of_width(e.width());
    if (e.layout == "sdxl")
      what += " (clip_l " + std::to_string(e.vectors.at("clip_l").size(1)) + " + clip_g " +
              std::to_string(e.vectors.at("clip_g").size(1)) + ")";
    fail(ErrorCode::ModelMismatch, e.path,
         what + " but the model's text encoder takes " + std::to_string(width) + family_of_width(width) +
             (model.empty() ? "" : " (" + model + ")"));
  }
  return it->second;
}

std::pair<at::Tensor, at::Tensor> sdxl_vectors_for(const EmbeddingFile& e, std::int64_t width1, std::int64_t width2,
                                                   const std::string& model) {
  const auto l = e.vectors.find("clip_l"), g = e.vectors.find("clip_g");
  const bool fits = l != e.vectors.end() && g != e.vectors.end() && g->second.size(1) == width2 &&
                    (width1 == 0 || l->second.size(1) == width1);
  if (!fits) {
    std::string what = "is an embedding of width " + std::to_string(e.width()) + family_of_width(e.width());
    if (e.layout == "sdxl")
      what += " (clip_l " + std::to_string(l->second.size(1)) + " + clip_g " + std::to_string(g->second.size(1)) + ")";
    const std::string takes = width1 ? "clip_l " + std::to_string(width1) + " + clip_g " + std::to_string(width2)
                                     : "clip_g " + std::to_string(width2) + " (a refiner)";
    fail(ErrorCode::ModelMismatch, e.path,
         what + " but the model is SDXL and takes one vector set per text encoder: " + takes +
             (model.empty() ? "" : " (" + model + ")"));
  }
  return {width1 ? l->second : at::Tensor(), g->second};
}

std::string embedding_short_hash(const std::string& path) {
  return core::memo_by_file("ti hash", path, [](const std::string& p) { return sha256_file(p).substr(0, 12); });
}

}  // namespace gen::adapters
