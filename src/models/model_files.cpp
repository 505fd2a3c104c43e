#include "models/model_files.hpp"

#include <sstream>

#include "core/fail.hpp"
#include "models/key_map.hpp"
#include "models/loader.hpp"

namespace gen::models {
namespace {

std::string num(std::int64_t i) { return std::to_string(i); }
bool starts_with(const std::string& s, const std::string& head) { return s.compare(0, head.size(), head) == 0; }
bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

Family arch_family(ModelFamily f) {
  return f == ModelFamily::SD2 ? Family::SD2 : f == ModelFamily::SDXL ? Family::SDXL : Family::SD1;
}

WeightSource source_of(const io::PartSource& p) {
  WeightSource w;
  w.checkpoint = p.checkpoint;
  w.prefix = p.prefix;
  w.subject = p.subject;
  return w;
}

const char* dtype_of(const WeightSource& w, const std::string& ldm_name) {
  const auto key = w.prefix + (w.rename ? w.rename(ldm_name) : ldm_name);
  return w.checkpoint && w.checkpoint->contains(key) ? dtype_name(w.checkpoint->info(key).dtype) : "?";
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

}  // namespace

const char* family_name(ModelFamily f) noexcept {
  return f == ModelFamily::SD2 ? "sd2" : f == ModelFamily::SDXL ? "sdxl" : "sd1";
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
  return arch::infer_unet(arch::lookup_in(shapes), arch_family(family), hints, subject);
}
VaeConfig infer_vae_config(const ShapeMap& shapes, const InferenceHints& hints, const std::string& subject) {
  return arch::infer_vae(arch::lookup_in(shapes), hints, subject);
}
ClipTextConfig infer_text_config(const ShapeMap& shapes, ClipTextConfig::Layout layout, ModelFamily family,
                                 const InferenceHints& hints, const std::string& subject) {
  return arch::infer_text(arch::lookup_in(shapes), layout, arch_family(family), hints, subject);
}

ModelFiles ModelFiles::open(const std::string& path, const ModelFilesOptions& options) {
  if (!options.prediction_type.empty() && options.prediction_type != "epsilon" &&
      options.prediction_type != "v_prediction" && options.prediction_type != "sample")
    fail(ErrorCode::InvalidArgument, "prediction type",
         "'" + options.prediction_type + "' (expected epsilon, v_prediction or sample)");
  if (!options.variant.empty() && options.variant != "fp16")
    fail(ErrorCode::InvalidArgument, "variant", "'" + options.variant + "' (expected fp16 or nothing)");
  ModelFiles m;
  m.path_ = path;
  m.adopt(io::plan_model(path, {options.use_ema, options.variant, options.hints, options.config}));
  if (!options.vae_path.empty()) m.open_vae_override(options.vae_path, options);
  if (!options.prediction_type.empty()) {
    m.prediction_type_ = options.prediction_type;
    m.prediction_known_ = true;
  }
  return m;
}

void ModelFiles::adopt(io::ModelPlan plan) {
  layout_ = plan.diffusers ? Layout::DiffusersFolder : Layout::LdmSingleFile;
  family_ = plan.family == Family::SD2 ? ModelFamily::SD2 : plan.family == Family::SDXL ? ModelFamily::SDXL
                                                                                     : ModelFamily::SD1;
  unet_cfg_ = plan.unet_config;
  vae_cfg_ = plan.vae_config;
  text_cfg_ = plan.text_config;
  text2_cfg_ = plan.text2_config;
  refiner_ = plan.refiner;
  force_zeros_ = plan.family == Family::SDXL && plan.force_zeros_for_empty_prompt;
  tokenizer2_dir_ = plan.tokenizer2_dir;
  clip_skip_ = plan.clip_skip;
  uses_ema_ = plan.uses_ema;
  ema_available_ = plan.ema_available;
  scheduler_config_ = std::move(plan.scheduler_config);
  tokenizer_dir_ = plan.tokenizer_dir;
  config_file_ = plan.config_file;
  if (!plan.prediction_type.empty()) {
    prediction_type_ = plan.prediction_type;
    prediction_known_ = true;
  }
  unet_ = source_of(plan.unet);
  vae_ = source_of(plan.vae);
  text_ = source_of(plan.text);
  text2_ = source_of(plan.text2);
  const bool open_clip = text_cfg_.layout == ClipTextConfig::Layout::OpenClip;
  if (has_text_encoder_2()) {
    const bool open_clip2 = text2_cfg_.layout == ClipTextConfig::Layout::OpenClip;
    if (text2_.prefix == kTransformersTextPrefix) {
      // transformers 4: the text model under text_model., its projection beside it.
      text2_.prefix = "";
      text2_.rename = [](const std::string& n) {
        return starts_with(n, "text_projection") ? n : std::string(kTransformersTextPrefix) + n;
      };
    }
    const auto prefix = text2_.prefix;
    text2_.ignore = [prefix](const std::string& k) {
      const auto rest = k.substr(prefix.size());
      return ends_with(rest, "position_ids") || rest == "logit_scale" || rest == "attn_mask";
    };
    text2_.description = (plan.diffusers ? plan.text2.file : text2_.prefix) + " (" +
                         dtype_of(text2_, open_clip2 ? "token_embedding.weight" : "embeddings.token_embedding.weight") +
                         "), " + (open_clip2 ? "OpenCLIP" : "HF CLIP") + ", " + num(text2_cfg_.layers) +
                         " layers, projection " + num(text2_cfg_.projection_dim);
  }
  if (plan.diffusers) {
    if (has_unet()) {
      unet_.rename = unet_key_map(unet_cfg_).renamer(*unet_.checkpoint, "");
      unet_.description = plan.unet.file + " (" + dtype_of(unet_, "input_blocks.0.0.weight") + ")";
    }
    if (has_vae()) {
      vae_.rename = vae_key_map(vae_cfg_).renamer(*vae_.checkpoint, "");
      vae_.reshape_trailing_ones = true;
      vae_.description = plan.vae.file + " (" + dtype_of(vae_, "encoder.conv_in.weight") + ")";
    }
    if (has_text_encoder()) {
      const auto prefix = text_.prefix;
      // Under no prefix, a CLIPTextModelWithProjection's projection is not ours either.
      text_.ignore = [prefix](const std::string& k) {
        return ends_with(k, "position_ids") || (prefix.empty() && k == "text_projection.weight");
      };
      text_.description = plan.text.file + " (" + dtype_of(text_, "embeddings.token_embedding.weight") +
                          "), HF CLIP, " + num(text_cfg_.layers) + " layers";
    }
    return;
  }
  if (has_unet()) {
    if (uses_ema_) {
      unet_.rename = ldm_ema_name;
      unet_.ignore = [](const std::string& k) { return k == "model_ema.decay" || k == "model_ema.num_updates"; };
    }
    const auto loc = plan.report.locations.find("unet");
    const bool plain = loc != plan.report.locations.end() && loc->second.prefix == kLdmUNetPrefix;
    unet_.description = unet_.prefix + " (" + dtype_of(unet_, "input_blocks.0.0.weight") + "), " +
                        (uses_ema_ ? "EMA weights" : "non-EMA weights") +
                        (ema_available_ && plain ? (uses_ema_ ? " (non-EMA also present)" : " (EMA also present: use_ema)")
                                                 : "");
  }
  if (has_text_encoder()) {
    const auto prefix = text_.prefix;
    text_.ignore = [prefix](const std::string& k) {
      const auto rest = k.substr(prefix.size());
      return ends_with(rest, "position_ids") || rest == "text_projection" || rest == "logit_scale" ||
             rest == "attn_mask" || starts_with(rest, "visual.");
    };
    text_.description = text_.prefix + " (" +
                        dtype_of(text_, open_clip ? "token_embedding.weight" : "embeddings.token_embedding.weight") +
                        "), " + (open_clip ? "OpenCLIP" : "HF CLIP") + ", " + num(text_cfg_.layers) +
                        " layers, clip skip " + num(clip_skip_);
  }
  if (has_vae()) {
    vae_.reshape_trailing_ones = true;
    vae_.ignore = [](const std::string& k) { return starts_with(k, "first_stage_model.loss."); };
    vae_.description = vae_.prefix + " (" + dtype_of(vae_, "encoder.conv_in.weight") + ")";
  }
}

void ModelFiles::open_vae_override(const std::string& path, const ModelFilesOptions& options) {
  io::VaePlan v = io::plan_vae(path, options.variant);
  WeightSource w = source_of(v.source);
  switch (v.names) {
    case io::VaePlan::Names::Diffusers:
      if (v.own_config) {
        w.rename = vae_key_map(*v.own_config).renamer(*w.checkpoint, "");
        w.description = v.source.subject + " (diffusers names)";
      } else {
        w.rename = vae_key_map(v.names_config).renamer(*w.checkpoint, "");
        w.description = path + " (diffusers names)";
      }
      break;
    case io::VaePlan::Names::LdmPrefixed:
      w.ignore = [](const std::string& k) { return starts_with(k, "first_stage_model.loss."); };
      w.description = path + " (LDM names, first_stage_model.)";
      break;
    case io::VaePlan::Names::Ldm:
      w.ignore = [](const std::string& k) { return starts_with(k, "loss.") || k == "model_ema.decay" || k == "model_ema.num_updates"; };
      w.description = path + " (LDM names)";
      break;
  }
  w.reshape_trailing_ones = true;
  w.description = "override " + w.description + " (" + dtype_of(w, "encoder.conv_in.weight") + ")";
  // The override replaces the built-in VAE in place: it must fit the built-in
  // architecture (mis-shaped tensors are listed on loading). Without a built-in
  // VAE, its own config or what its shapes say.
  if (!has_vae()) {
    if (v.own_config) {
      vae_cfg_ = *v.own_config;
    } else {
      const auto& ck = *w.checkpoint;
      const auto prefix = w.prefix;
      const auto rename = w.rename;
      vae_cfg_ = arch::infer_vae(
          [&](const std::string& name) -> const arch::Shape* {
            const auto key = prefix + (rename ? rename(name) : name);
            return ck.contains(key) ? &ck.info(key).shape : nullptr;
          },
          options.hints, w.subject);
      if (w.rename) w.rename = vae_key_map(vae_cfg_).renamer(*w.checkpoint, "");
    }
  } else if (v.own_config) {
    vae_cfg_.scaling_factor = v.own_config->scaling_factor;
  }
  vae_ = std::move(w);
  vae_overridden_ = true;
}

std::string ModelFiles::summary() const {
  std::ostringstream o;
  o << (layout_ == Layout::LdmSingleFile ? "LDM single file " : "diffusers folder ") << path_ << '\n';
  o << "family: " << family_name(family_) << '\n';
  if (!config_file_.empty()) o << "config: " << config_file_ << '\n';
  if (has_unet()) o << "unet: " << unet_.description << '\n';
  if (has_text_encoder()) o << "text encoder: " << text_.description << '\n';
  if (has_text_encoder_2()) o << "text encoder 2: " << text2_.description << '\n';
  if (family_ == ModelFamily::SDXL) o << "sdxl: " << (refiner_ ? "refiner" : "base") << '\n';
  if (has_vae()) o << "vae: " << vae_.description << '\n';
  o << "prediction: " << prediction_type_ << (prediction_known_ ? "" : " (assumed)") << '\n';
  if (!tokenizer_dir_.empty()) o << "tokenizer: " << tokenizer_dir_ << '\n';
  return o.str();
}

std::unique_ptr<UNet> ModelFiles::load_unet(at::ScalarType dtype, c10::Device device, bool keep_16bit) const {
  io::require_part({unet_.checkpoint}, "UNet", path_);
  auto m = std::make_unique<UNet>(unet_cfg_);
  load_into(*m, unet_, dtype, device, keep_16bit);
  return m;
}

std::unique_ptr<ClipTextModel> ModelFiles::load_text_encoder(at::ScalarType dtype, c10::Device device, bool keep_16bit) const {
  io::require_part({text_.checkpoint}, "text encoder", path_);
  auto m = std::make_unique<ClipTextModel>(text_cfg_);
  load_into(*m, text_, dtype, device, keep_16bit);
  return m;
}

std::unique_ptr<ClipTextModel> ModelFiles::load_text_encoder_2(at::ScalarType dtype, c10::Device device,
                                                               bool keep_16bit) const {
  io::require_part({text2_.checkpoint}, "second text encoder", path_);
  auto m = std::make_unique<ClipTextModel>(text2_cfg_);
  load_into(*m, text2_, dtype, device, keep_16bit);
  return m;
}

std::unique_ptr<Vae> ModelFiles::load_vae(at::ScalarType dtype, c10::Device device, bool keep_16bit) const {
  io::require_part({vae_.checkpoint}, "VAE", path_);
  auto m = std::make_unique<Vae>(vae_cfg_);
  load_into(*m, vae_, dtype, device, keep_16bit);
  return m;
}

}  // namespace gen::models
