// The loaders' decisions (rules in model_plan.hpp and models/model_files.hpp).
#include "annotators/annotator_files.hpp"
#include "arch/config_bounds.hpp"
#include "core/fail.hpp"
#include "core/fs.hpp"
#include "core/json.hpp"
#include "io/model_plan.hpp"
#include "io/ldm_config.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

namespace gen::io {
namespace {

// Plain POSIX for files and folders: in binaries linked with libtorch, some
// std::filesystem functions can bind to a broken copy exported by libtorch.so.
bool path_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}
using core::is_dir;
using core::is_file;
using core::join;
bool starts_with(const std::string& s, const std::string& head) { return s.compare(0, head.size(), head) == 0; }
bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
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

bool has_prefix(const SafetensorsCheckpoint& ckpt, const std::string& prefix) {
  for (const auto& f : ckpt.files())
    for (const auto& t : f.tensors())
      if (starts_with(t.name, prefix)) return true;
  return false;
}

std::string num(std::int64_t i) { return std::to_string(i); }

// The LDM names of a part under `prefix` (EMA: arch::ldm_ema_name).
arch::Lookup lookup_in(const SafetensorsCheckpoint& ckpt, std::string prefix, bool ema = false) {
  return [&ckpt, prefix = std::move(prefix), ema](const std::string& name) -> const arch::Shape* {
    const auto key = prefix + (ema ? arch::ldm_ema_name(name) : name);
    return ckpt.contains(key) ? &ckpt.info(key).shape : nullptr;
  };
}

ModelReport classify_checkpoint(const SafetensorsCheckpoint& ckpt) {
  std::vector<NamedShape> shapes;
  for (const auto& name : ckpt.names()) shapes.push_back({name, ckpt.info(name).shape});
  return classify(shapes);
}

// The elements of every tensor a weight file holds (to compare with what a config needs).
std::uint64_t held_weights(const SafetensorsCheckpoint& ckpt) {
  std::uint64_t n = 0;
  for (const auto& name : ckpt.names()) n += ckpt.info(name).numel();
  return n;
}

// A config.json / scheduler_config.json as diffusers writes it: Python's json module writes
// non-finite floats as bare -Infinity / NaN, read here as the strings "-Infinity" / "NaN".
nlohmann::json read_json_file(const std::string& p) {
  return core::read_json_file(p, core::kMaxConfigFile, "model config");
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

// The number of time ids an SDXL UNet's label_emb takes after the pooled text: size, crop and
// target size (base), or size, crop and aesthetic score (refiner), two numbers each but the score.
std::int64_t sdxl_time_ids(bool refiner) { return refiner ? 5 : 6; }

// addition_time_embed_dim from label_emb's input width (ModelPlan's rule).
void sdxl_time_dim(ModelPlan& m, const models::InferenceHints& hints, const std::string& subject) {
  auto& u = m.unet_config;
  if (!m.unet.checkpoint || hints.unet_addition_time_embed_dim > 0) return;
  if (u.adm_in_channels <= 0)
    fail(ErrorCode::ModelMismatch, subject, "an SDXL UNet without label_emb (the added size and text condition)");
  const auto pooled = m.text2_config.projection_dim, ids = sdxl_time_ids(m.refiner);
  const auto rest = u.adm_in_channels - pooled;
  if (pooled <= 0 || rest <= 0 || rest % ids)
    fail(ErrorCode::ModelMismatch, subject,
         "label_emb takes " + num(u.adm_in_channels) + " inputs, which is not the pooled text's " + num(pooled) +
             " plus " + num(ids) + " equal time-id embeddings (" + (m.refiner ? "a refiner" : "a base model") + ")");
  u.addition_time_embed_dim = rest / ids;
}

// An SDXL single file (sgm names): model.diffusion_model., first_stage_model.,
// conditioner.embedders.0.transformer. (CLIP ViT-L, HF names) and conditioner.embedders.1.model.
// (OpenCLIP bigG); the refiner: conditioner.embedders.0.model. (bigG) only.
void plan_sdxl_ldm(ModelPlan& m, const std::shared_ptr<SafetensorsCheckpoint>& ckpt, const std::string& subject,
                   const ModelPlanOptions& options) {
  const ModelReport& r = m.report;
  auto part = [&](const char* name) {
    auto it = r.locations.find(name);
    return it != r.locations.end() && starts_with(it->second.prefix, "conditioner.embedders.") ? &it->second : nullptr;
  };
  m.family = Family::SDXL;
  const PartLocation* text = part("text_encoder");
  const PartLocation* text2 = part("text_encoder_2");
  if (!text2)
    fail(ErrorCode::NotFound, subject,
         "an SDXL checkpoint without its OpenCLIP text encoder (conditioner.embedders.N.model.): "
         "SDXL needs the second text encoder");
  m.refiner = text == nullptr;
  // diffusers' from_single_file takes the pipeline config of stable-diffusion-xl-refiner-1.0 for
  // a refiner: force_zeros_for_empty_prompt false (a base's: true).
  m.force_zeros_for_empty_prompt = !m.refiner;
  const auto layout_of = [](const PartLocation& p) {
    return p.layout == Layout::OpenClip ? models::ClipTextConfig::Layout::OpenClip
                                        : models::ClipTextConfig::Layout::HuggingFace;
  };
  if (text) {
    m.text = {ckpt, text->prefix, subject, ""};
    m.text_config = arch::infer_text(lookup_in(*ckpt, text->prefix), layout_of(*text), Family::SDXL, options.hints,
                                     subject);
  }
  m.text2 = {ckpt, text2->prefix, subject, ""};
  m.text2_config = arch::infer_text(lookup_in(*ckpt, text2->prefix), layout_of(*text2), Family::SDXL, options.hints,
                                    subject);
  const auto proj_name = text2->prefix + (layout_of(*text2) == models::ClipTextConfig::Layout::OpenClip
                                              ? "text_projection" : "text_projection.weight");
  if (!ckpt->contains(proj_name))
    fail(ErrorCode::ModelMismatch, subject, "no tensor '" + proj_name + "': SDXL's second text encoder needs its projection");
  const auto& proj = ckpt->info(proj_name).shape;
  if (proj.size() != 2)
    fail(ErrorCode::ModelMismatch, subject, "tensor '" + proj_name + "' has rank " + num(proj.size()) + ", expected 2");
  m.text2_config.projection_dim = layout_of(*text2) == models::ClipTextConfig::Layout::OpenClip ? proj[1] : proj[0];
  if (ckpt->contains(std::string(arch::kLdmUNetPrefix) + "input_blocks.0.0.weight")) {
    m.unet = {ckpt, arch::kLdmUNetPrefix, subject, ""};
    m.unet_config = arch::infer_unet(lookup_in(*ckpt, arch::kLdmUNetPrefix), Family::SDXL, options.hints, subject);
    sdxl_time_dim(m, options.hints, subject);
  }
  auto vae = r.locations.find("vae");
  if (vae != r.locations.end() && vae->second.prefix == arch::kLdmVaePrefix) {
    m.vae = {ckpt, arch::kLdmVaePrefix, subject, ""};
    m.vae_config = arch::infer_vae(lookup_in(*ckpt, arch::kLdmVaePrefix), options.hints, subject);
    m.vae_config.scaling_factor = 0.13025;  // sgm's SDXL configs (scale_factor)
  }
  m.clip_skip = 0;
  // What diffusers' from_single_file gives an SDXL file: stable-diffusion-xl-base-1.0's
  // scheduler_config.json (leading spacing, where a bare Euler config says linspace).
  m.scheduler_config = nlohmann::json::parse(
      R"({"_class_name": "EulerDiscreteScheduler", "beta_start": 0.00085, "beta_end": 0.012,)"
      R"( "beta_schedule": "scaled_linear", "clip_sample": false, "interpolation_type": "linear",)"
      R"( "num_train_timesteps": 1000, "prediction_type": "epsilon", "sample_max_value": 1.0,)"
      R"( "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1,)"
      R"( "timestep_spacing": "leading", "trained_betas": null, "use_karras_sigmas": false})");
}

// An LDM single file: the parts classify() found at the LDM prefixes.
void plan_ldm(ModelPlan& m, const std::string& path, const ModelPlanOptions& options) {
  auto ckpt = open_weights_file(path);
  const auto& subject = path;
  m.report = classify_checkpoint(*ckpt);
  const ModelReport& r = m.report;
  auto at = [&](const char* part, const std::string& prefix) {
    auto it = r.locations.find(part);
    return it != r.locations.end() && starts_with(it->second.prefix, prefix) ? &it->second : nullptr;
  };
  if (r.kind == ModelKind::SDXLCheckpoint) return plan_sdxl_ldm(m, ckpt, path, options);
  if (r.family == Family::SDXL && r.kind != ModelKind::ControlNet && r.kind != ModelKind::LoRA)
    fail(ErrorCode::Unsupported, subject, "an SDXL " + std::string(kind_id(r.kind)) +
                                              "; gen loads SDXL single-file checkpoints and diffusers folders");
  const bool plain = at("unet", arch::kLdmUNetPrefix) != nullptr;
  const PartLocation* vae = at("vae", arch::kLdmVaePrefix);
  const PartLocation* text = at("text_encoder", "cond_stage_model.");
  m.ema_available = ckpt->contains(std::string(arch::kLdmEmaPrefix) + arch::ldm_ema_name("input_blocks.0.0.weight"));
  if (!plain && !m.ema_available && !vae && !text) {
    if (r.kind == ModelKind::ControlNet)
      fail(ErrorCode::Unsupported, subject, "a ControlNet, not a Stable Diffusion checkpoint (load it as a ControlNet)");
    if (r.kind == ModelKind::LoRA)
      fail(ErrorCode::Unsupported, subject, "a LoRA, not a Stable Diffusion checkpoint (apply it to a model with --lora FILE)");
    fail(ErrorCode::ModelMismatch, subject,
         "no Stable Diffusion parts (model.diffusion_model., first_stage_model., cond_stage_model.)");
  }
  // The family classify() gives (the text encoder's, else the UNet's): SD 2.x or SD 1.x rules.
  m.family = r.family == Family::SD2 ? Family::SD2 : Family::SD1;

  if (plain || m.ema_available) {
    if (options.use_ema.value_or(false) && !m.ema_available)
      fail(ErrorCode::NotFound, subject, "no EMA weights (model_ema.*) in this file");
    m.uses_ema = m.ema_available && (!plain || options.use_ema.value_or(false));
    m.unet = {ckpt, m.uses_ema ? arch::kLdmEmaPrefix : arch::kLdmUNetPrefix, subject, ""};
    m.unet_config = arch::infer_unet(lookup_in(*ckpt, m.unet.prefix, m.uses_ema), m.family, options.hints, subject);
  }
  if (text) {
    const bool open_clip = text->layout == Layout::OpenClip ||
                           (text->layout == Layout::Unknown && text->prefix == arch::kLdmOpenClipPrefix);
    m.text = {ckpt, text->prefix, subject, ""};
    m.text_config = arch::infer_text(lookup_in(*ckpt, text->prefix),
                                     open_clip ? models::ClipTextConfig::Layout::OpenClip
                                               : models::ClipTextConfig::Layout::HuggingFace,
                                     m.family, options.hints, subject);
    // OpenCLIP files store every layer; SD 2.x uses the penultimate one.
    m.clip_skip = open_clip ? 1 : 0;
  }
  if (vae) {
    m.vae = {ckpt, arch::kLdmVaePrefix, subject, ""};
    m.vae_config = arch::infer_vae(lookup_in(*ckpt, arch::kLdmVaePrefix), options.hints, subject);
  }
}

// A diffusers pipeline folder: the components model_index.json lists, with their configs.
void plan_diffusers(ModelPlan& m, const std::string& root, const ModelPlanOptions& options) {
  m.diffusers = true;
  const auto index = read_json_file(join(root, "model_index.json"));
  if (!index.is_object()) fail(ErrorCode::InvalidFormat, join(root, "model_index.json"), "not a JSON object");
  const std::string index_path = join(root, "model_index.json");
  if (index.contains("_class_name") && !index["_class_name"].is_string())
    fail(ErrorCode::InvalidFormat, index_path, "_class_name must be a string, not " + core::json_excerpt(index["_class_name"]));
  const auto cls = index.value("_class_name", std::string());
  const bool listed2 = index.contains("text_encoder_2") && !index["text_encoder_2"].is_null() &&
                       !(index["text_encoder_2"].is_array() && index["text_encoder_2"].size() == 2 &&
                         index["text_encoder_2"][1].is_null());
  if (cls.find("XL") != std::string::npos && !listed2)
    fail(ErrorCode::NotFound, index_path,
         "an SDXL pipeline (" + cls + ") without text_encoder_2: SDXL needs its second text encoder");
  auto component = [&](const char* name) -> std::optional<std::string> {
    if (!index.contains(name)) return std::nullopt;
    const auto& v = index[name];
    // [library, class]; [null, null] (or null) for a component the pipeline leaves out.
    if (v.is_null() || (v.is_array() && v.size() == 2 && v[1].is_null())) return std::nullopt;
    if (!v.is_array() || v.size() != 2 || !v[0].is_string() || !v[1].is_string())
      fail(ErrorCode::InvalidFormat, index_path,
           std::string(name) + " must be [library, class] (two strings), not " + core::json_excerpt(v));
    const auto dir = join(root, name);
    if (!is_dir(dir)) fail(ErrorCode::NotFound, dir, "model_index.json lists it, but the folder is missing");
    return dir;
  };
  auto source = [&](PartSource& w, const std::string& dir) {
    const auto file = component_weights(dir, options.variant);
    w.checkpoint = open_weights_file(file);
    w.subject = file;
    w.file = file.substr(join(root, "").size());
  };

  if (auto dir = component("unet")) {
    const auto cfg_path = join(*dir, "config.json");
    const auto cfg = read_json_file(join(*dir, "config.json"));
    if (cfg.contains("addition_embed_type") && !cfg["addition_embed_type"].is_null() && !listed2)
      fail(ErrorCode::NotFound, index_path,
           "the UNet takes SDXL's added condition (addition_embed_type " + core::json_excerpt(cfg["addition_embed_type"]) +
               "), but the pipeline lists no text_encoder_2");
    m.unet_config = models::UNetConfig::from_diffusers(cfg, cfg_path);
    source(m.unet, *dir);
    arch::check_weights_fit(arch::min_weights(m.unet_config), held_weights(*m.unet.checkpoint), cfg_path,
                            m.unet.subject);
  }
  if (auto dir = component("vae")) {
    const auto cfg_path = join(*dir, "config.json");
    m.vae_config = models::VaeConfig::from_diffusers(read_json_file(join(*dir, "config.json")), cfg_path);
    source(m.vae, *dir);
    arch::check_weights_fit(arch::min_weights(m.vae_config), held_weights(*m.vae.checkpoint), cfg_path, m.vae.subject);
  }
  bool gelu = false;
  if (auto dir = component("text_encoder")) {
    const auto cfg_path = join(*dir, "config.json");
    const auto cfg = read_json_file(join(*dir, "config.json"));
    m.text_config = models::ClipTextConfig::from_transformers(cfg, cfg_path);
    m.text_config.layout = models::ClipTextConfig::Layout::HuggingFace;
    gelu = !m.text_config.quick_gelu;
    source(m.text, *dir);
    arch::check_weights_fit(arch::min_weights(m.text_config), held_weights(*m.text.checkpoint), cfg_path,
                            m.text.subject);
    // transformers 4 writes the names under `text_model.`, transformers 5 without it.
    const bool wrapped = m.text.checkpoint->contains(std::string(arch::kTransformersTextPrefix) +
                                                     "embeddings.token_embedding.weight");
    m.text.prefix = wrapped ? arch::kTransformersTextPrefix : "";
  }
  m.family = gelu || (m.unet.checkpoint && m.unet_config.context_dim == 1024) ? Family::SD2 : Family::SD1;
  m.clip_skip = 0;
  if (index.contains("tokenizer") && is_dir(join(root, "tokenizer"))) m.tokenizer_dir = join(root, "tokenizer");
  if (listed2) {
    m.family = Family::SDXL;
    m.refiner = !m.text.checkpoint;
    const auto dir = component("text_encoder_2");
    const auto cfg_path = join(*dir, "config.json");
    m.text2_config = models::ClipTextConfig::from_transformers(read_json_file(cfg_path), cfg_path, true);
    m.text2_config.layout = models::ClipTextConfig::Layout::HuggingFace;
    source(m.text2, *dir);
    arch::check_weights_fit(arch::min_weights(m.text2_config), held_weights(*m.text2.checkpoint), cfg_path,
                            m.text2.subject);
    // transformers 4 writes text_model.* and text_projection.weight; 5 the same without text_model.
    m.text2.prefix = m.text2.checkpoint->contains(std::string(arch::kTransformersTextPrefix) +
                                                  "embeddings.token_embedding.weight")
                         ? arch::kTransformersTextPrefix : "";
    const auto tok2 = join(root, "tokenizer_2");
    if (!index.contains("tokenizer_2") || !is_dir(tok2))
      fail(ErrorCode::NotFound, tok2, "an SDXL pipeline needs its second tokenizer (tokenizer_2/)");
    m.tokenizer2_dir = tok2;
    const auto& fz = index.contains("force_zeros_for_empty_prompt") ? index["force_zeros_for_empty_prompt"]
                                                                      : nlohmann::json();
    if (!fz.is_null() && !fz.is_boolean())
      fail(ErrorCode::InvalidFormat, index_path, "force_zeros_for_empty_prompt must be true or false");
    m.force_zeros_for_empty_prompt = fz.is_boolean() ? fz.get<bool>() : cls != "StableDiffusionXLImg2ImgPipeline";
    if (!m.refiner && m.tokenizer_dir.empty())
      fail(ErrorCode::NotFound, join(root, "tokenizer"), "an SDXL pipeline needs its first tokenizer (tokenizer/)");
    if (m.unet.checkpoint && m.unet_config.adm_in_channels <= 0)
      fail(ErrorCode::ModelMismatch, join(root, "unet/config.json"),
           "an SDXL pipeline whose UNet takes no added condition (addition_embed_type \"text_time\")");
  }
  const auto sched = join(root, "scheduler/scheduler_config.json");
  if (path_exists(sched)) {  // a FIFO or folder there is refused by the reader, not skipped
    m.scheduler_config = read_json_file(sched);
    if (m.scheduler_config.is_object() && m.scheduler_config.contains("prediction_type") &&
        m.scheduler_config["prediction_type"].is_string())
      m.prediction_type = m.scheduler_config["prediction_type"].get<std::string>();
  }
}

// An LDM single file with its .yaml: the config's numbers are hints to the inference, its
// prediction type, latent scale and text layer override the family rules.
void plan_ldm_with_config(ModelPlan& m, const std::string& path, const ModelPlanOptions& options) {
  const std::string cfg = options.config.empty() ? config_beside(path) : options.config;
  if (cfg.empty()) return plan_ldm(m, path, options);
  const LdmConfig c = read_ldm_config(cfg);
  if (c.sgm) {  // sd_xl_base.yaml and the like: SDXL files say everything in their weights
    if (classify_checkpoint(*open_weights_file(path)).family != Family::SDXL)
      fail(ErrorCode::ModelMismatch, cfg, "an SDXL (sgm) model config, but " + path + " is not an SDXL checkpoint");
    plan_ldm(m, path, options);
    m.config_file = cfg;
    return;
  }
  ModelPlanOptions o = options;
  o.hints = merged_hints(options.hints, c);
  plan_ldm(m, path, o);
  m.config_file = cfg;
  if (m.unet.checkpoint) check_ldm_config(c, m.unet_config, path);
  if (!c.prediction_type.empty()) m.prediction_type = c.prediction_type;
  if (c.scale_factor) m.vae_config.scaling_factor = *c.scale_factor;
  if (c.clip_skip && m.text.checkpoint) m.clip_skip = *c.clip_skip;
}

}  // namespace

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

std::shared_ptr<SafetensorsCheckpoint> open_weights_file(const std::string& path) {
  check_weight_file(path);
  return std::make_shared<SafetensorsCheckpoint>(SafetensorsCheckpoint::open(path));
}

void require_part(const PartSource& source, const char* part, const std::string& path) {
  if (!source.checkpoint) fail(ErrorCode::NotFound, path, std::string("no ") + part + " in this model");
}

ModelPlan plan_model(const std::string& path, const ModelPlanOptions& options) {
  if (!path_exists(path)) fail(ErrorCode::NotFound, path, "no such file or folder");
  ModelPlan m;
  if (is_dir(path)) {
    if (!path_exists(join(path, "model_index.json")))
      fail(ErrorCode::NotFound, path,
           "no model_index.json: not a diffusers pipeline folder (give an LDM .safetensors file or a folder "
           "with model_index.json)");
    if (!options.config.empty())
      fail(ErrorCode::InvalidArgument, options.config,
           "a model config (.yaml) is for a single-file checkpoint; " + path + " is a diffusers folder");
    plan_diffusers(m, path, options);
  } else {
    plan_ldm_with_config(m, path, options);
  }
  return m;
}

VaePlan plan_vae(const std::string& path, const std::string& variant) {
  if (!path_exists(path)) fail(ErrorCode::NotFound, path, "no such VAE file or folder");
  VaePlan v;
  std::string dir = path;
  if (is_dir(dir) && is_dir(join(dir, "vae")) && is_file(join(dir, "model_index.json"))) dir = join(dir, "vae");
  if (is_dir(dir)) {  // a diffusers AutoencoderKL folder
    if (!is_file(join(dir, "config.json")))
      fail(ErrorCode::NotFound, dir, "no config.json: not a diffusers VAE folder");
    v.own_config = models::VaeConfig::from_diffusers(read_json_file(join(dir, "config.json")), join(dir, "config.json"));
    const auto file = component_weights(dir, variant);
    v.source = {open_weights_file(file), "", file, ""};
    v.names = VaePlan::Names::Diffusers;
    return v;
  }
  v.source = {open_weights_file(path), "", path, ""};
  const auto& ck = *v.source.checkpoint;
  const ModelReport r = classify_checkpoint(ck);
  const auto it = r.locations.find("vae");
  const PartLocation* vae = it == r.locations.end() ? nullptr : &it->second;
  if (vae && vae->prefix == arch::kLdmVaePrefix) {
    v.names = VaePlan::Names::LdmPrefixed;
    v.source.prefix = arch::kLdmVaePrefix;
  } else if (vae && vae->prefix.empty() && vae->layout == Layout::LDM) {
    v.names = VaePlan::Names::Ldm;
  } else if (vae && vae->prefix.empty() && vae->layout == Layout::Diffusers) {
    v.names = VaePlan::Names::Diffusers;
    // The levels and resnets per level the names show.
    auto& shape = v.names_config;
    shape.block_channels.clear();
    for (std::int64_t l = 0; has_prefix(ck, "encoder.down_blocks." + num(l) + "."); ++l) shape.block_channels.push_back(1);
    shape.num_res_blocks = 0;
    while (has_prefix(ck, "encoder.down_blocks.0.resnets." + num(shape.num_res_blocks) + ".")) ++shape.num_res_blocks;
  } else {
    fail(ErrorCode::ModelMismatch, path, "no VAE tensors (first_stage_model., encoder./decoder.)");
  }
  return v;
}

ControlNetPlan plan_controlnet(const std::string& path) {
  ControlNetPlan p;
  if (is_dir(path)) {  // a diffusers ControlNetModel folder
    std::error_code ec;
    if (!std::filesystem::exists(path + "/config.json", ec))
      fail(ErrorCode::NotFound, path, "not a ControlNet folder: no config.json");
    const nlohmann::json cfg = read_json_file(path + "/config.json");
    if (cfg.is_object() && cfg.value("_class_name", nlohmann::json()) == "T2IAdapter")
      fail(ErrorCode::ModelMismatch, path, "not a ControlNet: a diffusers T2IAdapter folder (give it with --adapter)");
    p.checkpoint = std::make_shared<SafetensorsCheckpoint>(SafetensorsCheckpoint::open(path));
    p.layout = "diffusers";
    p.config = control::ControlNetConfig::from_diffusers(cfg, path + "/config.json");
    arch::check_weights_fit(arch::min_weights(p.config.unet, true), held_weights(*p.checkpoint), path + "/config.json",
                            path);
    return p;
  }
  p.checkpoint = open_weights_file(path);
  const ModelReport r = classify_checkpoint(*p.checkpoint);
  if (r.kind == ModelKind::T2IAdapter)
    fail(ErrorCode::ModelMismatch, path, "not a ControlNet: " + r.summary + " (give it with --adapter)");
  if (r.kind != ModelKind::ControlNet)
    fail(ErrorCode::ModelMismatch, path, "not a ControlNet: no input_hint_block / controlnet_cond_embedding tensors");
  p.prefix = r.prefix;
  arch::ShapeMap shapes;
  for (const auto& name : p.checkpoint->names())
    if (starts_with(name, p.prefix)) shapes[name.substr(p.prefix.size())] = p.checkpoint->info(name).shape;
  if (r.layout == Layout::Diffusers) {
    p.layout = "diffusers-file";
    p.config = arch::infer_controlnet_diffusers(shapes, r.family, path);
    return p;
  }
  p.config = arch::infer_controlnet(shapes, r.family, path);
  p.layout = layout_id(r.layout);  // difference, prefix-stripped, controlnet-1.0-full, control-model-prefixed
  return p;
}

LoadVerdict judge_load(const std::string& path, const ModelReport& report) {
  LoadVerdict v;
  v.as = report.kind == ModelKind::ControlNet ? "controlnet" : report.kind == ModelKind::VAE ? "vae" : "model";
  if (report.kind == ModelKind::Upscaler) {  // `--hires-upscaler-model` / `gen upscale --model`
    v.as = "upscaler";
    v.ok = report.facts.count("scale") != 0;  // the configuration could be inferred
    if (!v.ok) {
      v.code = ErrorCode::ModelMismatch;
      v.reason = path + ": " + report.summary;
    }
    return v;
  }
  if (report.kind == ModelKind::T2IAdapter) {  // --adapter (control/t2i_adapter_arch.hpp)
    v.as = "t2i-adapter";
    v.ok = report.facts.count("levels") != 0;  // the configuration could be inferred
    if (!v.ok) {
      v.code = report.summary.rfind("T2I-Adapter names", 0) == 0 ? ErrorCode::ModelMismatch : ErrorCode::Unsupported;
      v.reason = path + ": " + report.summary;
    }
    return v;
  }
  if (report.kind == ModelKind::Annotator) {  // --preprocess NAME (annotators/annotator_files.hpp)
    v.as = "annotator";
    v.ok = !report.parts.empty() && !annotators::preprocess_names_for(report.parts.front()).empty();
    if (!v.ok) {
      v.code = ErrorCode::Unsupported;
      v.reason = path + ": " + report.summary + ", which no --preprocess name of this build reads yet";
    }
    return v;
  }
  try {
    if (v.as == "controlnet") {
      plan_controlnet(path);
    } else if (v.as == "vae") {
      plan_vae(path, "");
    } else {
      v.config = config_beside(path);
      const ModelPlan m = plan_model(path, {});
      // What the engine loads, in its order (models::ModelFiles::load_unet, load_vae, load_text_encoder).
      require_part(m.unet, "UNet", path);
      require_part(m.vae, "VAE", path);
      if (!m.refiner) require_part(m.text, "text encoder", path);
      if (m.family == Family::SDXL) require_part(m.text2, "second text encoder", path);
    }
    v.ok = true;
  } catch (const Error& e) {
    v.code = e.code();
    v.reason = e.what();
  }
  return v;
}

}  // namespace gen::io
