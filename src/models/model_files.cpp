#include "models/model_files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "gen/error.hpp"
#include "models/key_map.hpp"
#include "models/loader.hpp"

namespace gen::models {
namespace {

// Plain POSIX for files and folders: in binaries linked with libtorch, some
// std::filesystem functions can bind to a broken copy exported by libtorch.so.
bool path_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}
bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool is_file(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
std::string join(const std::string& a, const std::string& b) {
  return a.empty() || a.back() == '/' ? a + b : a + "/" + b;
}
std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") out.push_back(name);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

using Shape = std::vector<std::int64_t>;
// LDM name (without the part's prefix) → its shape in the checkpoint, or null.
using Get = std::function<const Shape*(const std::string&)>;

bool starts_with(const std::string& s, const std::string& head) { return s.compare(0, head.size(), head) == 0; }
bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

bool has_prefix(const SafetensorsCheckpoint& ckpt, const std::string& prefix) {
  for (const auto& f : ckpt.files())
    for (const auto& t : f.tensors())
      if (starts_with(t.name, prefix)) return true;
  return false;
}

Get getter(const SafetensorsCheckpoint& ckpt, std::string prefix,
           std::function<std::string(const std::string&)> rename = {}) {
  return [&ckpt, prefix = std::move(prefix), rename = std::move(rename)](const std::string& name) -> const Shape* {
    const auto key = prefix + (rename ? rename(name) : name);
    return ckpt.contains(key) ? &ckpt.info(key).shape : nullptr;
  };
}

Get getter(const ShapeMap& shapes) {
  return [&shapes](const std::string& name) -> const Shape* {
    auto it = shapes.find(name);
    return it == shapes.end() ? nullptr : &it->second;
  };
}

std::string num(std::int64_t i) { return std::to_string(i); }

struct Need {
  const Get& get;
  const std::string& subject;
  const char* what;
  const Shape& operator()(const std::string& name, std::size_t rank) const {
    const Shape* s = get(name);
    if (!s) fail(ErrorCode::ModelMismatch, subject, std::string("no tensor '") + name + "': not a " + what);
    if (s->size() != rank)
      fail(ErrorCode::ModelMismatch, subject, "tensor '" + name + "' has rank " + num(s->size()) + ", expected " +
                                                  num(rank));
    return *s;
  }
};

std::int64_t mult_of(std::int64_t ch, std::int64_t base, const std::string& subject) {
  if (base <= 0 || ch % base) fail(ErrorCode::ModelMismatch, subject, "block channels are not multiples of the first");
  return ch / base;
}

UNetConfig infer_unet(const Get& get, ModelFamily family, const InferenceHints& hints, const std::string& subject) {
  if (get("label_emb.0.0.weight"))
    fail(ErrorCode::Unsupported, subject, "a UNet with a label embedding (SDXL or class-conditional) is not supported");
  Need need{get, subject, "Stable Diffusion UNet"};
  UNetConfig c;
  const auto& in = need("input_blocks.0.0.weight", 4);
  c.model_channels = in[0];
  c.in_channels = in[1];
  c.out_channels = need("out.2.weight", 4)[0];
  // Walk input_blocks: per level, res blocks (optionally with a transformer), then a downsampler.
  c.channel_mult.clear();
  c.attention_resolutions.clear();
  std::int64_t n = 1, per_level = -1;
  for (std::int64_t level = 0;; ++level) {
    std::int64_t r = 0, out = 0;
    int with_attention = 0;
    for (; get("input_blocks." + num(n) + ".0.in_layers.0.weight"); ++r, ++n) {
      out = need("input_blocks." + num(n) + ".0.out_layers.3.weight", 4)[0];
      with_attention += get("input_blocks." + num(n) + ".1.norm.weight") != nullptr;
    }
    if (r == 0) fail(ErrorCode::ModelMismatch, subject, "input_blocks." + num(n) + " is not a res block");
    if (per_level >= 0 && r != per_level)
      fail(ErrorCode::Unsupported, subject, "levels with different numbers of res blocks");
    if (with_attention != 0 && with_attention != r)
      fail(ErrorCode::Unsupported, subject, "a level where only some res blocks have attention");
    per_level = r;
    c.channel_mult.push_back(mult_of(out, c.model_channels, subject));
    if (with_attention) c.attention_resolutions.push_back(std::int64_t{1} << level);
    if (!get("input_blocks." + num(n) + ".0.op.weight")) break;
    ++n;
  }
  c.num_res_blocks = per_level;
  const std::string mid = "middle_block.1.";
  c.transformer_depth = 0;
  while (get(mid + "transformer_blocks." + num(c.transformer_depth) + ".norm1.weight")) ++c.transformer_depth;
  if (c.transformer_depth == 0) fail(ErrorCode::ModelMismatch, subject, "no transformer in middle_block.1");
  c.context_dim = need(mid + "transformer_blocks.0.attn2.to_k.weight", 2)[1];
  const Shape* proj = get(mid + "proj_in.weight");
  if (!proj) fail(ErrorCode::ModelMismatch, subject, "no tensor '" + mid + "proj_in.weight'");
  c.use_linear_in_transformer = proj->size() == 2;
  // Head layout: not stored; the family's rule unless hinted.
  if (hints.unet_heads > 0) {
    c.num_heads = hints.unet_heads;
    c.num_head_channels = -1;
  } else if (hints.unet_head_channels > 0) {
    c.num_head_channels = hints.unet_head_channels;
  } else if (family == ModelFamily::SD2) {
    c.num_head_channels = 64;
  } else {
    c.num_heads = 8;
    c.num_head_channels = -1;
  }
  c.upcast_attention = hints.unet_upcast_attention.value_or(family == ModelFamily::SD2);
  c.norm_groups = hints.unet_norm_groups > 0 ? hints.unet_norm_groups : 32;
  c.validate(subject);
  return c;
}

VaeConfig infer_vae(const Get& get, const InferenceHints& hints, const std::string& subject) {
  Need need{get, subject, "KL autoencoder (VAE)"};
  VaeConfig c;
  const auto& in = need("encoder.conv_in.weight", 4);
  c.channels = in[0];
  c.in_channels = in[1];
  c.channel_mult.clear();
  for (std::int64_t l = 0; get("encoder.down." + num(l) + ".block.0.conv1.weight"); ++l)
    c.channel_mult.push_back(mult_of(need("encoder.down." + num(l) + ".block.0.conv1.weight", 4)[0], c.channels, subject));
  if (c.channel_mult.empty()) fail(ErrorCode::ModelMismatch, subject, "no tensor 'encoder.down.0.block.0.conv1.weight'");
  c.num_res_blocks = 0;
  while (get("encoder.down.0.block." + num(c.num_res_blocks) + ".conv1.weight")) ++c.num_res_blocks;
  c.latent_channels = need("decoder.conv_in.weight", 4)[1];
  c.out_channels = need("decoder.conv_out.weight", 4)[0];
  c.norm_groups = hints.vae_norm_groups > 0 ? hints.vae_norm_groups : 32;
  c.scaling_factor = 0.18215;
  return c;
}

ClipTextConfig infer_text(const Get& get, ClipTextConfig::Layout layout, ModelFamily family,
                          const InferenceHints& hints, const std::string& subject) {
  Need need{get, subject, "CLIP text encoder"};
  const bool hf = layout == ClipTextConfig::Layout::HuggingFace;
  ClipTextConfig c;
  c.layout = layout;
  const auto& tok = need(hf ? "embeddings.token_embedding.weight" : "token_embedding.weight", 2);
  c.vocab_size = tok[0];
  c.width = tok[1];
  c.max_positions = need(hf ? "embeddings.position_embedding.weight" : "positional_embedding", 2)[0];
  const std::string layer = hf ? "encoder.layers." : "transformer.resblocks.";
  c.layers = 0;
  while (get(layer + num(c.layers) + (hf ? ".layer_norm1.weight" : ".ln_1.weight"))) ++c.layers;
  if (c.layers == 0) fail(ErrorCode::ModelMismatch, subject, "no text transformer layers");
  c.ff_dim = need(layer + "0." + (hf ? "mlp.fc1.weight" : "mlp.c_fc.weight"), 2)[0];
  if (hints.text_heads > 0) {
    c.heads = hints.text_heads;
  } else {
    if (c.width % 64)
      fail(ErrorCode::ModelMismatch, subject, "text width " + num(c.width) +
                                                  " is not a multiple of 64 (give the head count as a hint)");
    c.heads = c.width / 64;
  }
  if (c.width % c.heads) fail(ErrorCode::InvalidArgument, subject, "text width is not a multiple of the heads");
  c.quick_gelu = family == ModelFamily::SD1;
  c.eps = 1e-5;
  return c;
}

nlohmann::json read_json_file(const std::string& p) {
  std::ifstream in(p);
  if (!in) fail(ErrorCode::NotFound, p, "cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorCode::InvalidFormat, p, std::string("not valid JSON: ") + e.what());
  }
}

const char* dtype_of(const WeightSource& w, const std::string& ldm_name) {
  const auto key = w.prefix + (w.rename ? w.rename(ldm_name) : ldm_name);
  return w.checkpoint && w.checkpoint->contains(key) ? dtype_name(w.checkpoint->info(key).dtype) : "?";
}

// The weights file of a diffusers component folder: plain or fp16 variant, whole or sharded.
std::string component_weights(const std::string& folder, const std::string& variant) {
  std::vector<std::string> plain, fp16;
  for (const char* base : {"diffusion_pytorch_model", "model"}) {
    plain.push_back(std::string(base) + ".safetensors");
    plain.push_back(std::string(base) + ".safetensors.index.json");
    fp16.push_back(std::string(base) + ".fp16.safetensors");
    fp16.push_back(std::string(base) + ".safetensors.index.fp16.json");
  }
  auto order = variant == "fp16" ? fp16 : plain;
  const auto& rest = variant == "fp16" ? plain : fp16;
  order.insert(order.end(), rest.begin(), rest.end());
  for (const auto& name : order)
    if (is_file(join(folder, name))) return join(folder, name);
  for (const auto& name : list_dir(folder)) {
    if (ends_with(name, ".bin") || ends_with(name, ".bin.index.json") || ends_with(name, ".ckpt") ||
        ends_with(name, ".pt") || ends_with(name, ".pth"))
      fail(ErrorCode::Unsupported, folder,
           "only PyTorch pickle weights (" + name +
               "); gen reads safetensors: convert them first with `gen convert`");
  }
  fail(ErrorCode::NotFound, folder, "no weights (looked for diffusion_pytorch_model[.fp16].safetensors, "
                                             "model[.fp16].safetensors and their sharded *.index.json)");
}

std::shared_ptr<SafetensorsCheckpoint> open_checkpoint(const std::string& path) {
  check_weight_file(path);
  return std::make_shared<SafetensorsCheckpoint>(SafetensorsCheckpoint::open(path));
}

template <class M>
void load_into(M& model, const WeightSource& w, at::ScalarType dtype, c10::Device device, bool keep_16bit) {
  LoadOptions o;
  o.prefix = w.prefix;
  o.dtype = dtype;
  o.keep_16bit = keep_16bit;
  o.device = device;
  o.rename = w.rename;
  o.ignore = w.ignore;
  o.reshape_trailing_ones = w.reshape_trailing_ones;
  load_weights(model, *w.checkpoint, o, w.subject);
}

void require(const WeightSource& w, const char* part, const std::string& path) {
  if (!w.checkpoint) fail(ErrorCode::NotFound, path, std::string("no ") + part + " in this model");
}

}  // namespace

const char* family_name(ModelFamily f) noexcept { return f == ModelFamily::SD2 ? "sd2" : "sd1"; }

void check_weight_file(const std::string& path) {
  // Read the first bytes without blocking on a FIFO; anything unreadable is left to
  // the safetensors reader, which names the problem (not found, permissions, ...).
  unsigned char head[16] = {0};
  std::size_t got = 0;
  std::uint64_t size = 0;
  {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
      size = static_cast<std::uint64_t>(st.st_size);
      const ssize_t n = ::read(fd, head, sizeof head);
      got = n > 0 ? static_cast<std::size_t>(n) : 0;
    }
    ::close(fd);
  }
  const std::string convert = "gen reads safetensors: convert it first with `gen convert " + path + " OUT.safetensors`";
  if (got >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0)
    fail(ErrorCode::Unsupported, path, "a PyTorch checkpoint (torch.save ZIP archive); " + convert);
  if (got >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5)
    fail(ErrorCode::Unsupported, path, "a pickled PyTorch checkpoint; " + convert);
  if (got >= 4 && std::memcmp(head, "GGUF", 4) == 0)
    fail(ErrorCode::Unsupported, path, "a GGUF file; gen reads safetensors (and converts torch.save checkpoints)");
  bool pickle_name = false;
  for (const char* ext : {".ckpt", ".pt", ".pth", ".bin"}) pickle_name = pickle_name || ends_with(path, ext);
  if (!pickle_name || got == 0) return;
  // A safetensors file under a checkpoint's name: u64 header length, then '{'.
  std::uint64_t header = 0;
  for (int i = 7; i >= 0 && got >= 9; --i) header = (header << 8) | head[i];
  if (got >= 9 && head[8] == '{' && header >= 2 && header <= size - 8) return;
  fail(ErrorCode::InvalidFormat, path,
       "named like a PyTorch checkpoint, but neither a torch.save ZIP archive, a pickle nor safetensors "
       "(damaged, or another kind of file)");
}

ShapeMap shapes_of(const SafetensorsCheckpoint& ckpt, const std::string& prefix) {
  ShapeMap out;
  for (const auto& f : ckpt.files())
    for (const auto& t : f.tensors())
      if (starts_with(t.name, prefix)) out[t.name.substr(prefix.size())] = t.shape;
  return out;
}

UNetConfig infer_unet_config(const ShapeMap& shapes, ModelFamily family, const InferenceHints& hints,
                             const std::string& subject) {
  return infer_unet(getter(shapes), family, hints, subject);
}
VaeConfig infer_vae_config(const ShapeMap& shapes, const InferenceHints& hints, const std::string& subject) {
  return infer_vae(getter(shapes), hints, subject);
}
ClipTextConfig infer_text_config(const ShapeMap& shapes, ClipTextConfig::Layout layout, ModelFamily family,
                                 const InferenceHints& hints, const std::string& subject) {
  return infer_text(getter(shapes), layout, family, hints, subject);
}

ModelFiles ModelFiles::open(const std::string& path, const ModelFilesOptions& options) {
  if (!options.prediction_type.empty() && options.prediction_type != "epsilon" &&
      options.prediction_type != "v_prediction" && options.prediction_type != "sample")
    fail(ErrorCode::InvalidArgument, "prediction type",
         "'" + options.prediction_type + "' (expected epsilon, v_prediction or sample)");
  if (!options.variant.empty() && options.variant != "fp16")
    fail(ErrorCode::InvalidArgument, "variant", "'" + options.variant + "' (expected fp16 or nothing)");
  if (!path_exists(path)) fail(ErrorCode::NotFound, path, "no such file or folder");
  ModelFiles m;
  m.path_ = path;
  if (is_dir(path)) {
    if (!is_file(join(path, "model_index.json")))
      fail(ErrorCode::NotFound, path,
           "no model_index.json: not a diffusers pipeline folder (give an LDM .safetensors file or a folder "
           "with model_index.json)");
    m.layout_ = Layout::DiffusersFolder;
    m.open_diffusers(options);
  } else {
    m.layout_ = Layout::LdmSingleFile;
    m.open_ldm(options);
  }
  if (!options.vae_path.empty()) m.open_vae_override(options.vae_path, options);
  if (!options.prediction_type.empty()) {
    m.prediction_type_ = options.prediction_type;
    m.prediction_known_ = true;
  }
  return m;
}

void ModelFiles::open_ldm(const ModelFilesOptions& options) {
  auto ckpt = open_checkpoint(path_);
  const auto& subject = path_;
  if (has_prefix(*ckpt, "conditioner.embedders.") || ckpt->contains("model.diffusion_model.label_emb.0.0.weight"))
    fail(ErrorCode::Unsupported, subject, "an SDXL checkpoint; gen supports SD 1.x and 2.x");
  const bool plain = has_prefix(*ckpt, kLdmUNetPrefix);
  ema_available_ = ckpt->contains(std::string(kLdmEmaPrefix) + ldm_ema_name("input_blocks.0.0.weight"));
  if (!plain && !ema_available_ && !has_prefix(*ckpt, kLdmVaePrefix) && !has_prefix(*ckpt, "cond_stage_model.")) {
    if (has_prefix(*ckpt, kLdmControlPrefix) || ckpt->contains("input_hint_block.0.weight"))
      fail(ErrorCode::Unsupported, subject, "a ControlNet, not a Stable Diffusion checkpoint (load it as a ControlNet)");
    fail(ErrorCode::ModelMismatch, subject,
         "no Stable Diffusion parts (model.diffusion_model., first_stage_model., cond_stage_model.)");
  }

  // Text encoder and family.
  std::optional<ClipTextConfig::Layout> text_layout;
  if (has_prefix(*ckpt, kLdmOpenClipPrefix)) {
    text_layout = ClipTextConfig::Layout::OpenClip;
    text_.prefix = kLdmOpenClipPrefix;
    family_ = ModelFamily::SD2;
  } else if (has_prefix(*ckpt, kLdmClipPrefix) || has_prefix(*ckpt, kLdmClipOldPrefix)) {
    text_layout = ClipTextConfig::Layout::HuggingFace;
    text_.prefix = has_prefix(*ckpt, kLdmClipPrefix) ? kLdmClipPrefix : kLdmClipOldPrefix;
    family_ = ModelFamily::SD1;
  }

  // UNet: plain or EMA weights.
  if (plain || ema_available_) {
    if (options.use_ema.value_or(false) && !ema_available_)
      fail(ErrorCode::NotFound, subject, "no EMA weights (model_ema.*) in this file");
    uses_ema_ = ema_available_ && (!plain || options.use_ema.value_or(false));
    unet_.checkpoint = ckpt;
    unet_.subject = subject;
    if (uses_ema_) {
      unet_.prefix = kLdmEmaPrefix;
      unet_.rename = ldm_ema_name;
      unet_.ignore = [](const std::string& k) { return k == "model_ema.decay" || k == "model_ema.num_updates"; };
    } else {
      unet_.prefix = kLdmUNetPrefix;
    }
    const Get get = getter(*ckpt, unet_.prefix, unet_.rename);
    if (!text_layout) {  // no text encoder: the context width decides
      const Shape* k = get("middle_block.1.transformer_blocks.0.attn2.to_k.weight");
      family_ = k && k->size() == 2 && (*k)[1] == 1024 ? ModelFamily::SD2 : ModelFamily::SD1;
    }
    unet_cfg_ = infer_unet(get, family_, options.hints, subject);
    unet_.description = std::string(unet_.prefix) + " (" + dtype_of(unet_, "input_blocks.0.0.weight") + "), " +
                        (uses_ema_ ? "EMA weights" : "non-EMA weights") +
                        (ema_available_ && plain ? (uses_ema_ ? " (non-EMA also present)" : " (EMA also present: use_ema)")
                                                 : "");
  }

  if (text_layout) {
    text_.checkpoint = ckpt;
    text_.subject = subject;
    const auto prefix = text_.prefix;
    text_.ignore = [prefix](const std::string& k) {
      const auto rest = k.substr(prefix.size());
      return ends_with(rest, "position_ids") || rest == "text_projection" || rest == "logit_scale" ||
             rest == "attn_mask" || starts_with(rest, "visual.");
    };
    text_cfg_ = infer_text(getter(*ckpt, text_.prefix), *text_layout, family_, options.hints, subject);
    clip_skip_ = *text_layout == ClipTextConfig::Layout::OpenClip ? 1 : 0;
    text_.description = text_.prefix + " (" +
                        dtype_of(text_, *text_layout == ClipTextConfig::Layout::OpenClip
                                            ? "token_embedding.weight"
                                            : "embeddings.token_embedding.weight") +
                        "), " + (*text_layout == ClipTextConfig::Layout::OpenClip ? "OpenCLIP" : "HF CLIP") + ", " +
                        num(text_cfg_.layers) + " layers, clip skip " + num(clip_skip_);
  }

  if (has_prefix(*ckpt, kLdmVaePrefix)) {
    vae_.checkpoint = ckpt;
    vae_.subject = subject;
    vae_.prefix = kLdmVaePrefix;
    vae_.reshape_trailing_ones = true;
    vae_.ignore = [](const std::string& k) { return starts_with(k, "first_stage_model.loss."); };
    vae_cfg_ = infer_vae(getter(*ckpt, vae_.prefix), options.hints, subject);
    vae_.description = std::string(kLdmVaePrefix) + " (" + dtype_of(vae_, "encoder.conv_in.weight") + ")";
  }
}

void ModelFiles::open_diffusers(const ModelFilesOptions& options) {
  const std::string& root = path_;
  const auto index = read_json_file(join(root, "model_index.json"));
  if (!index.is_object()) fail(ErrorCode::InvalidFormat, join(root, "model_index.json"), "not a JSON object");
  const auto cls = index.value("_class_name", std::string());
  if (cls.find("XL") != std::string::npos || index.contains("text_encoder_2"))
    fail(ErrorCode::Unsupported, path_, "an SDXL pipeline (" + cls + "); gen supports SD 1.x and 2.x");
  auto component = [&](const char* name) -> std::optional<std::string> {
    if (!index.contains(name)) return std::nullopt;
    const auto& v = index[name];
    if (!v.is_array() || v.size() != 2 || v[1].is_null()) return std::nullopt;
    const auto dir = join(root, name);
    if (!is_dir(dir)) fail(ErrorCode::NotFound, dir, "model_index.json lists it, but the folder is missing");
    return dir;
  };
  auto source = [&](WeightSource& w, const std::string& dir) {
    const auto file = component_weights(dir, options.variant);
    w.checkpoint = open_checkpoint(file);
    w.subject = file;
    w.description = file.substr(join(root, "").size());
  };

  if (auto dir = component("unet")) {
    const auto cfg_path = join(*dir, "config.json");
    const auto cfg = read_json_file(join(*dir, "config.json"));
    if (cfg.contains("addition_embed_type") && !cfg["addition_embed_type"].is_null())
      fail(ErrorCode::Unsupported, cfg_path, "a UNet with added embeddings (SDXL-style)");
    unet_cfg_ = UNetConfig::from_diffusers(cfg, cfg_path);
    source(unet_, *dir);
    unet_.rename = unet_key_map(unet_cfg_).renamer(*unet_.checkpoint, "");
    unet_.description += std::string(" (") + dtype_of(unet_, "input_blocks.0.0.weight") + ")";
  }
  if (auto dir = component("vae")) {
    const auto cfg_path = join(*dir, "config.json");
    vae_cfg_ = VaeConfig::from_diffusers(read_json_file(join(*dir, "config.json")), cfg_path);
    source(vae_, *dir);
    vae_.rename = vae_key_map(vae_cfg_).renamer(*vae_.checkpoint, "");
    vae_.reshape_trailing_ones = true;
    vae_.description += std::string(" (") + dtype_of(vae_, "encoder.conv_in.weight") + ")";
  }
  bool gelu = false;
  if (auto dir = component("text_encoder")) {
    const auto cfg_path = join(*dir, "config.json");
    const auto cfg = read_json_file(join(*dir, "config.json"));
    text_cfg_ = ClipTextConfig::from_transformers(cfg, cfg_path);
    text_cfg_.layout = ClipTextConfig::Layout::HuggingFace;
    gelu = !text_cfg_.quick_gelu;
    source(text_, *dir);
    // transformers 4 writes the names under `text_model.`, transformers 5 without it.
    const bool wrapped = text_.checkpoint->contains(std::string(kTransformersTextPrefix) +
                                                    "embeddings.token_embedding.weight");
    text_.prefix = wrapped ? kTransformersTextPrefix : "";
    const auto prefix = text_.prefix;
    // Under no prefix, a CLIPTextModelWithProjection's projection is not ours either.
    text_.ignore = [prefix](const std::string& k) {
      return ends_with(k, "position_ids") || (prefix.empty() && k == "text_projection.weight");
    };
    text_.description += std::string(" (") + dtype_of(text_, "embeddings.token_embedding.weight") + "), HF CLIP, " +
                         num(text_cfg_.layers) + " layers";
  }
  family_ = gelu || (has_unet() && unet_cfg_.context_dim == 1024) ? ModelFamily::SD2 : ModelFamily::SD1;
  clip_skip_ = 0;
  if (index.contains("tokenizer") && is_dir(join(root, "tokenizer"))) tokenizer_dir_ = join(root, "tokenizer");
  const auto sched = join(root, "scheduler/scheduler_config.json");
  if (is_file(sched)) {
    scheduler_config_ = read_json_file(sched);
    if (scheduler_config_.is_object() && scheduler_config_.contains("prediction_type") &&
        scheduler_config_["prediction_type"].is_string()) {
      prediction_type_ = scheduler_config_["prediction_type"].get<std::string>();
      prediction_known_ = true;
    }
  }
}

void ModelFiles::open_vae_override(const std::string& path, const ModelFilesOptions& options) {
  if (!path_exists(path)) fail(ErrorCode::NotFound, path, "no such VAE file or folder");
  WeightSource w;
  std::optional<VaeConfig> own;  // the override's own config, when it has one
  std::string dir = path;
  if (is_dir(dir) && is_dir(join(dir, "vae")) && is_file(join(dir, "model_index.json"))) dir = join(dir, "vae");
  if (is_dir(dir)) {  // a diffusers AutoencoderKL folder
    if (!is_file(join(dir, "config.json")))
      fail(ErrorCode::NotFound, dir, "no config.json: not a diffusers VAE folder");
    own = VaeConfig::from_diffusers(read_json_file(join(dir, "config.json")), join(dir, "config.json"));
    const auto file = component_weights(dir, options.variant);
    w.checkpoint = open_checkpoint(file);
    w.subject = file;
    w.rename = vae_key_map(*own).renamer(*w.checkpoint, "");
    w.description = file + " (diffusers names)";
  } else {
    w.checkpoint = open_checkpoint(path);
    w.subject = path;
    const auto& ck = *w.checkpoint;
    if (has_prefix(ck, kLdmVaePrefix)) {
      w.prefix = kLdmVaePrefix;
      w.ignore = [](const std::string& k) { return starts_with(k, "first_stage_model.loss."); };
      w.description = path + " (LDM names, first_stage_model.)";
    } else if (has_prefix(ck, "encoder.down.") || has_prefix(ck, "decoder.up.")) {
      w.ignore = [](const std::string& k) { return starts_with(k, "loss.") || k == "model_ema.decay" || k == "model_ema.num_updates"; };
      w.description = path + " (LDM names)";
    } else if (has_prefix(ck, "encoder.down_blocks.") || has_prefix(ck, "decoder.up_blocks.")) {
      // diffusers names: the levels and resnets per level give the rename table.
      VaeConfig shape;
      shape.channel_mult.clear();
      for (std::int64_t l = 0; has_prefix(ck, "encoder.down_blocks." + num(l) + "."); ++l) shape.channel_mult.push_back(1);
      shape.num_res_blocks = 0;
      while (has_prefix(ck, "encoder.down_blocks.0.resnets." + num(shape.num_res_blocks) + ".")) ++shape.num_res_blocks;
      w.rename = vae_key_map(shape).renamer(ck, "");
      w.description = path + " (diffusers names)";
    } else {
      fail(ErrorCode::ModelMismatch, path, "no VAE tensors (first_stage_model., encoder./decoder.)");
    }
  }
  w.reshape_trailing_ones = true;
  w.description = "override " + w.description + " (" + dtype_of(w, "encoder.conv_in.weight") + ")";
  // The override replaces the built-in VAE in place: it must fit the built-in
  // architecture (mis-shaped tensors are listed on loading). Without a built-in
  // VAE, its own config or what its shapes say.
  if (!has_vae()) {
    if (own) {
      vae_cfg_ = *own;
    } else {
      vae_cfg_ = infer_vae(getter(*w.checkpoint, w.prefix, w.rename), options.hints, w.subject);
      if (w.rename) w.rename = vae_key_map(vae_cfg_).renamer(*w.checkpoint, "");
    }
  } else if (own) {
    vae_cfg_.scaling_factor = own->scaling_factor;
  }
  vae_ = std::move(w);
  vae_overridden_ = true;
}

std::string ModelFiles::summary() const {
  std::ostringstream o;
  o << (layout_ == Layout::LdmSingleFile ? "LDM single file " : "diffusers folder ") << path_ << '\n';
  o << "family: " << family_name(family_) << '\n';
  if (has_unet()) o << "unet: " << unet_.description << '\n';
  if (has_text_encoder()) o << "text encoder: " << text_.description << '\n';
  if (has_vae()) o << "vae: " << vae_.description << '\n';
  o << "prediction: " << prediction_type_ << (prediction_known_ ? "" : " (assumed)") << '\n';
  if (!tokenizer_dir_.empty()) o << "tokenizer: " << tokenizer_dir_ << '\n';
  return o.str();
}

std::unique_ptr<UNet> ModelFiles::load_unet(at::ScalarType dtype, c10::Device device, bool keep_16bit) const {
  require(unet_, "UNet", path_);
  auto m = std::make_unique<UNet>(unet_cfg_);
  load_into(*m, unet_, dtype, device, keep_16bit);
  return m;
}

std::unique_ptr<ClipTextModel> ModelFiles::load_text_encoder(at::ScalarType dtype, c10::Device device, bool keep_16bit) const {
  require(text_, "text encoder", path_);
  auto m = std::make_unique<ClipTextModel>(text_cfg_);
  load_into(*m, text_, dtype, device, keep_16bit);
  return m;
}

std::unique_ptr<Vae> ModelFiles::load_vae(at::ScalarType dtype, c10::Device device, bool keep_16bit) const {
  require(vae_, "VAE", path_);
  auto m = std::make_unique<Vae>(vae_cfg_);
  load_into(*m, vae_, dtype, device, keep_16bit);
  return m;
}

}  // namespace gen::models
