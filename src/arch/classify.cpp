// classify(): what a set of tensors is, from names and shapes alone (rules in classify.hpp).
#include "arch/classify.hpp"

#include "annotators/annotator_files.hpp"
#include "annotators/registry.hpp"
#include "gen/error.hpp"
#include "control/t2i_adapter_arch.hpp"
#include "upscalers/esrgan_arch.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <sstream>

namespace gen {

const char* kind_id(ModelKind kind) noexcept {
  switch (kind) {
    case ModelKind::Empty: return "empty";
    case ModelKind::SD1Checkpoint: return "sd1-checkpoint";
    case ModelKind::SD2Checkpoint: return "sd2-checkpoint";
    case ModelKind::SDXLCheckpoint: return "sdxl-checkpoint";
    case ModelKind::Checkpoint: return "checkpoint";
    case ModelKind::UNet: return "unet";
    case ModelKind::VAE: return "vae";
    case ModelKind::TextEncoder: return "text-encoder";
    case ModelKind::ControlNet: return "controlnet";
    case ModelKind::LoRA: return "lora";
    case ModelKind::Pipeline: return "pipeline";
    case ModelKind::Upscaler: return "upscaler";
    case ModelKind::Annotator: return "annotator";
    case ModelKind::T2IAdapter: return "t2i-adapter";
    case ModelKind::Unknown: break;
  }
  return "unknown";
}

const char* family_id(Family family) noexcept {
  switch (family) {
    case Family::SD1: return "sd1";
    case Family::SD2: return "sd2";
    case Family::SDXL: return "sdxl";
    case Family::Unknown: break;
  }
  return "unknown";
}

const char* layout_id(Layout layout) noexcept {
  switch (layout) {
    case Layout::LDM: return "ldm";
    case Layout::Diffusers: return "diffusers";
    case Layout::ControlModelPrefixed: return "control-model-prefixed";
    case Layout::PrefixStripped: return "prefix-stripped";
    case Layout::Difference: return "difference";
    case Layout::ControlNet10Full: return "controlnet-1.0-full";
    case Layout::LoraKohya: return "lora-kohya";
    case Layout::LoraPeft: return "lora-peft";
    case Layout::LoraDiffusersLegacy: return "lora-diffusers-legacy";
    case Layout::HFClip: return "hf-clip";
    case Layout::OpenClip: return "open-clip";
    case Layout::DiffusersPipeline: return "diffusers-pipeline";
    case Layout::EsrganOld: return "esrgan-old";
    case Layout::EsrganBasicSR: return "basicsr";
    case Layout::EsrganBsrgan: return "bsrgan";
    case Layout::Original: return "original";
    case Layout::Transformers: return "transformers";
    case Layout::Unknown: break;
  }
  return "unknown";
}

namespace {

using Shape = std::vector<std::int64_t>;
using Shapes = std::map<std::string, Shape>;

bool starts(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends(const std::string& s, const std::string& t) {
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}
bool contains(const std::string& s, const std::string& t) { return s.find(t) != std::string::npos; }

const Shape* get(const Shapes& s, const std::string& name) {
  auto it = s.find(name);
  return it == s.end() ? nullptr : &it->second;
}

// Visits the keys under `prefix` (the map is sorted, so they are contiguous).
template <class F>
void under(const Shapes& s, const std::string& prefix, F&& f) {
  for (auto it = s.lower_bound(prefix); it != s.end() && starts(it->first, prefix); ++it)
    if (!f(it->first, it->second)) return;
}

bool any_under(const Shapes& s, const std::string& prefix) {
  auto it = s.lower_bound(prefix);
  return it != s.end() && starts(it->first, prefix);
}

std::size_t count_under(const Shapes& s, const std::string& prefix) {
  std::size_t n = 0;
  under(s, prefix, [&](const std::string&, const Shape&) { return ++n, true; });
  return n;
}

// The first key under `prefix` ending with `suffix`.
const Shape* find_suffix(const Shapes& s, const std::string& prefix, const std::string& suffix) {
  const Shape* found = nullptr;
  under(s, prefix, [&](const std::string& k, const Shape& v) {
    if (ends(k, suffix)) found = &v;
    return found == nullptr;
  });
  return found;
}

// Distinct values of the number that follows `prefix` ("...layers.7." → 7).
std::int64_t count_indices(const Shapes& s, const std::string& prefix) {
  std::set<std::string> seen;
  under(s, prefix, [&](const std::string& k, const Shape&) {
    std::size_t i = prefix.size(), j = i;
    while (j < k.size() && std::isdigit(static_cast<unsigned char>(k[j]))) ++j;
    if (j > i) seen.insert(k.substr(i, j - i));
    return true;
  });
  return static_cast<std::int64_t>(seen.size());
}

std::int64_t dim(const Shape* shape, std::size_t i) {
  return shape && shape->size() > i ? (*shape)[i] : 0;
}

Family family_from_context(std::int64_t ctx) {
  if (ctx == 768) return Family::SD1;
  if (ctx == 1024) return Family::SD2;
  if (ctx == 2048) return Family::SDXL;
  return Family::Unknown;
}

// ---- the parts ---------------------------------------------------------------

struct UNetInfo {
  Family family = Family::Unknown;
  std::int64_t context_dim = 0, in_channels = 0, model_channels = 0;
};

// A UNet or ControlNet under `p`, LDM or diffusers names.
UNetInfo analyse_unet(const Shapes& s, const std::string& p) {
  UNetInfo u;
  const Shape* conv_in = get(s, p + "input_blocks.0.0.weight");
  if (!conv_in) conv_in = get(s, p + "conv_in.weight");
  u.in_channels = dim(conv_in, 1);
  u.model_channels = dim(conv_in, 0);
  u.context_dim = dim(find_suffix(s, p, "attn2.to_k.weight"), 1);
  const Shape* proj_in = find_suffix(s, p, ".proj_in.weight");
  const bool add_embed = get(s, p + "label_emb.0.0.weight") || get(s, p + "add_embedding.linear_1.weight");
  u.family = family_from_context(u.context_dim);
  if (u.family == Family::Unknown) {
    if (add_embed)
      u.family = Family::SDXL;
    else if (proj_in && proj_in->size() == 2)
      u.family = Family::SD2;
    else if (proj_in && proj_in->size() == 4)
      u.family = Family::SD1;
  }
  return u;
}

struct TextInfo {
  Layout layout = Layout::Unknown;
  std::string inner;  // transformers' `text_model.` when the names have it
  std::int64_t width = 0, layers = 0;
  bool projection = false;
};

TextInfo analyse_text(const Shapes& s, const std::string& p) {
  TextInfo t;
  if (const Shape* tok = get(s, p + "token_embedding.weight")) {  // OpenCLIP
    t.layout = Layout::OpenClip;
    t.width = dim(tok, 1);
    t.layers = count_indices(s, p + "transformer.resblocks.");
    t.projection = get(s, p + "text_projection") != nullptr;
    return t;
  }
  for (const std::string& inner : {std::string("text_model."), std::string()}) {
    if (const Shape* tok = get(s, p + inner + "embeddings.token_embedding.weight")) {
      t.layout = Layout::HFClip;
      t.inner = inner;
      t.width = dim(tok, 1);
      t.layers = count_indices(s, p + inner + "encoder.layers.");
      t.projection = get(s, p + "text_projection.weight") != nullptr;
      return t;
    }
  }
  if (any_under(s, p + "text_model.")) t.inner = "text_model.";
  return t;
}

struct VaeInfo {
  bool present = false;
  Layout layout = Layout::Unknown;
  std::int64_t latent_channels = 0;
};

VaeInfo analyse_vae(const Shapes& s, const std::string& p) {
  VaeInfo v;
  const Shape* dec_in = get(s, p + "decoder.conv_in.weight");
  const Shape* enc_out = get(s, p + "encoder.conv_out.weight");
  if (!dec_in && !enc_out) return v;
  v.present = true;
  if (any_under(s, p + "encoder.down.") || any_under(s, p + "decoder.up.") || any_under(s, p + "encoder.mid.block_") ||
      any_under(s, p + "decoder.mid.block_"))
    v.layout = Layout::LDM;
  else if (any_under(s, p + "encoder.down_blocks.") || any_under(s, p + "decoder.up_blocks.") ||
           any_under(s, p + "encoder.mid_block.") || any_under(s, p + "decoder.mid_block."))
    v.layout = Layout::Diffusers;
  v.latent_channels = dec_in ? dim(dec_in, 1) : dim(enc_out, 0) / 2;
  return v;
}

std::string family_name(Family f) {
  switch (f) {
    case Family::SD1: return "SD 1.x";
    case Family::SD2: return "SD 2.x";
    case Family::SDXL: return "SDXL";
    case Family::Unknown: break;
  }
  return "an unknown family";
}

std::string join(const std::vector<std::string>& v, const std::string& sep, const std::string& last) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) out += (i == 0 ? "" : i + 1 == v.size() ? last : sep) + v[i];
  return out;
}

std::string part_name(const std::string& part) {
  if (part == "unet") return "UNet";
  if (part == "vae") return "VAE";
  if (part == "text_encoder") return "text encoder";
  if (part == "text_encoder_2") return "second text encoder";
  if (part == "controlnet") return "ControlNet";
  return part;
}

std::string parts_text(const std::vector<std::string>& parts) {
  std::vector<std::string> names;
  for (const auto& p : parts) names.push_back(part_name(p));
  return join(names, ", ", " and ");
}

void put(ModelReport& r, const char* key, std::int64_t value) {
  if (value > 0) r.facts[key] = value;
}

void add_unet_facts(ModelReport& r, const UNetInfo& u) {
  put(r, "context_dim", u.context_dim);
  put(r, "in_channels", u.in_channels);
  put(r, "model_channels", u.model_channels);
  if (u.in_channels == 9) r.notes.push_back("inpainting UNet (9 input channels)");
  if (u.in_channels == 8) r.notes.push_back("instruct-pix2pix style UNet (8 input channels)");
}

// ---- LoRA --------------------------------------------------------------------

bool is_lora_key(const std::string& k) {
  return contains(k, ".lora_down.") || contains(k, ".lora_up.") || contains(k, ".lora_A.") ||
         contains(k, ".hada_w1_") || contains(k, ".lokr_w1") ||
         contains(k, ".lora_B.") || contains(k, "_lora.down.") || contains(k, "_lora.up.") ||
         contains(k, ".lora.down.") || contains(k, ".lora_linear_layer.");
}

bool is_lora_down(const std::string& k) {
  return ends(k, ".lora_down.weight") || ends(k, ".lora_A.weight") || ends(k, "_lora.down.weight") ||
         ends(k, ".lora.down.weight") || ends(k, ".lora_linear_layer.down.weight");
}

// The low-rank factor that gives a module's rank ([rank, in]) and the kind it belongs to.
const char* rank_factor(const std::string& k) {
  if (is_lora_down(k)) return "LoRA";
  if (ends(k, ".hada_w1_b")) return "LoHa";
  if (ends(k, ".lokr_w1")) return "LoKr";  // every LoKr module has w1 or w1_a/w1_b
  if (ends(k, ".lokr_w1_a")) return "LoKr";
  return nullptr;
}

ModelReport classify_lora(const Shapes& s) {
  ModelReport r;
  r.kind = ModelKind::LoRA;
  bool kohya = false, peft = false, unet = false, te = false, te2 = false, cn = false;
  std::int64_t modules = 0, ctx = 0;
  std::set<std::int64_t> ranks;
  std::map<std::string, std::int64_t> kinds;
  std::int64_t tucker = 0, dora = 0;
  int proj_in_ndim = 0;
  for (const auto& [k, shape] : s) {
    if (starts(k, "lora_unet_") || starts(k, "lora_te") || starts(k, "lora_controlnet_")) kohya = true;
    if (contains(k, ".lora_A.") || contains(k, ".lora_B.")) peft = true;
    if (starts(k, "lora_unet_") || starts(k, "unet.") || starts(k, "lora_unet.")) unet = true;
    if (starts(k, "lora_te_") || starts(k, "lora_te1_") || starts(k, "text_encoder.")) te = true;
    if (starts(k, "lora_te2_") || starts(k, "text_encoder_2.")) te2 = true;
    if (starts(k, "lora_controlnet_") || starts(k, "controlnet.")) cn = true;
    if (ends(k, ".lora_mid.weight") || ends(k, ".hada_t1") || ends(k, ".lokr_t2")) ++tucker;
    if (ends(k, ".dora_scale") || ends(k, ".lora_magnitude_vector") || ends(k, ".lora_magnitude_vector.weight")) ++dora;
    if (ends(k, ".lokr_w1_b") || ends(k, ".lokr_w2_b")) ranks.insert(dim(&shape, 0));
    const char* kind = rank_factor(k);
    if (!kind) continue;
    ++modules;
    ++kinds[kind];
    if (std::string(kind) != "LoKr") ranks.insert(dim(&shape, 0));
    if (std::string(kind) != "LoRA") continue;
    const bool cross_k = contains(k, "attn2_to_k.") || contains(k, "attn2.to_k.") || contains(k, "attn2.processor.to_k_lora.");
    if (cross_k && ctx == 0) ctx = dim(&shape, 1);
    if ((contains(k, "proj_in.") || contains(k, "proj_in_lora")) && proj_in_ndim == 0)
      proj_in_ndim = static_cast<int>(shape.size());
  }
  r.layout = kohya ? Layout::LoraKohya : peft ? Layout::LoraPeft : Layout::LoraDiffusersLegacy;
  if (unet) r.parts.push_back("unet");
  if (te) r.parts.push_back("text_encoder");
  if (te2) r.parts.push_back("text_encoder_2");
  if (cn) r.parts.push_back("controlnet");
  r.family = family_from_context(ctx);
  if (r.family == Family::Unknown) {
    if (te2) r.family = Family::SDXL;
    else if (proj_in_ndim == 4) r.family = Family::SD1;  // only SD 1.x has conv proj_in
  }
  const std::int64_t rank = ranks.empty() ? 0 : *ranks.rbegin();
  put(r, "lora_rank", rank);
  if (ranks.size() > 1) put(r, "lora_rank_min", *ranks.begin());
  put(r, "lora_modules", modules);
  put(r, "context_dim", ctx);
  std::string kind_text;
  for (const auto& [k, n] : kinds) kind_text += (kind_text.empty() ? "" : "+") + k;
  if (kind_text.empty()) kind_text = "LoRA";
  const char* style = kohya ? "kohya" : peft ? "diffusers/PEFT" : "diffusers (legacy attention-processor)";
  std::ostringstream os;
  os << style << " " << kind_text;
  if (r.family != Family::Unknown) os << " for " << family_name(r.family);
  os << " (rank ";
  if (ranks.size() > 1) os << *ranks.begin() << "-";
  os << rank << ", " << modules << " modules";
  if (tucker) os << ", " << tucker << " Tucker";
  if (dora) os << ", " << dora << " DoRA";
  if (!r.parts.empty()) os << ", patching the " << parts_text(r.parts);
  os << ")";
  r.summary = os.str();
  return r;
}

// ---- single files --------------------------------------------------------------

struct TextPart {
  std::string part, prefix;
  TextInfo info;
  Family family;
};

// Text encoders under the LDM prefixes.
std::vector<TextPart> find_text_encoders(const Shapes& s) {
  std::vector<TextPart> out;
  auto add = [&](const std::string& part, const std::string& prefix, Family fam) {
    if (any_under(s, prefix)) out.push_back({part, prefix, analyse_text(s, prefix), fam});
  };
  // OpenCLIP first: a file with both is built with it (io/model_plan.cpp).
  add("text_encoder", arch::kLdmOpenClipPrefix, Family::SD2);
  add("text_encoder", arch::kLdmClipOldPrefix, Family::SD1);
  // XL: embedders.0 is CLIP ViT-L (HF names), embedders.1 OpenCLIP bigG; the
  // refiner has only the OpenCLIP one, as embedders.0.
  const bool two = any_under(s, "conditioner.embedders.1.");
  for (int i = 0; i < 2; ++i) {
    const std::string base = "conditioner.embedders." + std::to_string(i) + ".";
    const std::string part = (i == 1 || (!two && any_under(s, base + "model."))) ? "text_encoder_2" : "text_encoder";
    if (any_under(s, base + "transformer.")) add(part, base + "transformer.", Family::SDXL);
    if (any_under(s, base + "model.")) add(part, base + "model.", Family::SDXL);
  }
  return out;
}

std::string text_layout_name(Layout l) {
  return l == Layout::OpenClip ? "OpenCLIP" : l == Layout::HFClip ? "CLIP" : "unrecognised";
}

// A UniControl control model under `prefix` (control/unicontrol.hpp): the number of its
// per-task hint blocks as a fact, the hint channels from the first one, and its name in the
// summary. Its v1.0 and v1.1 files hold the same tensors (v1.0's `.1` hint zero-convs are
// zero): only the values tell them apart, which the loader reads.
bool mark_unicontrol(ModelReport& r, const Shapes& s, const std::string& prefix) {
  if (!get(s, prefix + arch::kUniControlMarker)) return false;
  put(r, "unicontrol_tasks", count_indices(s, prefix + "input_hint_block_list_moe."));
  put(r, "hint_channels", dim(get(s, prefix + "input_hint_block_list_moe.0.0.weight"), 1));
  put(r, "task_feature_dim", dim(get(s, prefix + arch::kUniControlMarker), 1));
  for (const char* from : {"ControlNet 1.0 full checkpoint", "ControlNet"}) {
    const auto at = r.summary.find(from);
    if (at != std::string::npos) {
      r.summary.replace(at, std::string(from).size(), "UniControl");
      break;
    }
  }
  const auto style = r.summary.find(" (1.1 style)");
  if (style != std::string::npos) r.summary.erase(style, 12);
  r.notes.push_back("UniControl: use it with --control FILE --control-task TASK (docs/unicontrol.md)");
  return true;
}

ModelKind checkpoint_kind(Family f) {
  switch (f) {
    case Family::SD1: return ModelKind::SD1Checkpoint;
    case Family::SD2: return ModelKind::SD2Checkpoint;
    case Family::SDXL: return ModelKind::SDXLCheckpoint;
    case Family::Unknown: break;
  }
  return ModelKind::Checkpoint;
}

ModelReport classify_standalone(const Shapes& s);

ModelReport classify_ldm(const Shapes& s) {
  ModelReport r;
  const bool has_unet = any_under(s, arch::kLdmUNetPrefix);
  std::string vae_p;
  for (const char* p : {arch::kLdmVaePrefix, "vae."})
    if (vae_p.empty() && analyse_vae(s, p).present) vae_p = p;
  const auto texts = find_text_encoders(s);
  const bool has_control = any_under(s, arch::kLdmControlPrefix);
  if (!has_unet && vae_p.empty() && texts.empty() && !has_control) return classify_standalone(s);

  UNetInfo unet = has_unet ? analyse_unet(s, arch::kLdmUNetPrefix) : UNetInfo{};
  UNetInfo control = has_control ? analyse_unet(s, arch::kLdmControlPrefix) : UNetInfo{};
  if (has_control) {
    r.parts.push_back("controlnet");
    r.locations["controlnet"] = {arch::kLdmControlPrefix, Layout::LDM};
  }
  if (has_unet) {
    r.parts.push_back("unet");
    r.locations["unet"] = {arch::kLdmUNetPrefix, Layout::LDM};
  }
  if (!vae_p.empty()) {
    r.parts.push_back("vae");
    r.locations["vae"] = {vae_p, analyse_vae(s, vae_p).layout};
  }
  Family text_family = Family::Unknown;
  for (const auto& t : texts) {
    if (std::find(r.parts.begin(), r.parts.end(), t.part) == r.parts.end()) {
      r.parts.push_back(t.part);
      r.locations[t.part] = {t.prefix + t.info.inner, t.info.layout};
    }
    if (text_family == Family::Unknown) text_family = t.family;
    put(r, t.part == "text_encoder_2" ? "text2_width" : "text_width", t.info.width);
    if (t.part == "text_encoder") put(r, "text_layers", t.info.layers);
  }
  if (!vae_p.empty()) put(r, "latent_channels", analyse_vae(s, vae_p).latent_channels);
  if (has_control) put(r, "hint_channels", dim(get(s, "control_model.input_hint_block.0.weight"), 1));

  // The text encoder decides (its kind is what the loaders build); without one, the UNet.
  const UNetInfo& main = has_control ? control : unet;
  r.family = text_family != Family::Unknown ? text_family : main.family;
  if (main.family != Family::Unknown && text_family != Family::Unknown && main.family != text_family)
    r.notes.push_back(std::string(has_control ? "the ControlNet" : "the UNet") + " looks like " +
                      family_name(main.family) + " but the text encoder like " + family_name(text_family));
  add_unet_facts(r, main);

  std::string texts_desc;
  for (const auto& t : texts) texts_desc += (texts_desc.empty() ? "" : " + ") + text_layout_name(t.info.layout);
  if (has_control) {
    r.kind = ModelKind::ControlNet;
    r.prefix = "control_model.";
    const bool diff = get(s, "difference") != nullptr || get(s, "control_model.difference") != nullptr;
    if (diff) {
      r.layout = Layout::Difference;
      r.summary = "'difference' ControlNet for " + family_name(r.family) + ", LDM names under control_model.";
    } else if (has_unet) {
      r.layout = Layout::ControlNet10Full;
      r.summary = "ControlNet 1.0 full checkpoint (a whole ControlLDM) for " + family_name(r.family) +
                  ": the ControlNet under control_model. plus the " + parts_text({r.parts.begin() + 1, r.parts.end()}) +
                  " it was trained with";
    } else {
      r.layout = Layout::ControlModelPrefixed;
      r.summary = "ControlNet for " + family_name(r.family) + " (1.1 style), LDM names under control_model.";
    }
    if (diff) r.notes.push_back("difference: add the base model's UNet weights to the matching ControlNet weights before use");
    mark_unicontrol(r, s, arch::kLdmControlPrefix);
  } else if (has_unet && vae_p.empty() && texts.empty()) {
    r.kind = ModelKind::UNet;
    r.layout = Layout::LDM;
    r.prefix = "model.diffusion_model.";
    r.summary = family_name(r.family) + " UNet alone, LDM names under model.diffusion_model.";
  } else if (!has_unet && !vae_p.empty() && texts.empty()) {
    r.kind = ModelKind::VAE;
    r.layout = Layout::LDM;
    r.prefix = vae_p;
    r.family = Family::Unknown;
    r.summary = "VAE alone, LDM names under " + vae_p;
  } else if (!has_unet && vae_p.empty() && texts.size() == 1) {
    r.kind = ModelKind::TextEncoder;
    r.layout = texts[0].info.layout;
    r.prefix = texts[0].prefix;  // the LDM prefix; locations[part] adds `text_model.`
    r.summary = family_name(r.family) + " text encoder alone (" + text_layout_name(r.layout) + " names under " +
                r.prefix + ")";
  } else {
    r.kind = checkpoint_kind(r.family);
    r.layout = Layout::LDM;
    // SDXL: a refiner has only the OpenCLIP encoder (text_encoder_2), a base both.
    const bool two = std::find(r.parts.begin(), r.parts.end(), "text_encoder") != r.parts.end();
    const std::string xl = r.family != Family::SDXL || texts.empty() ? "" : two ? " base" : " refiner";
    r.summary = (r.family == Family::Unknown ? std::string("Stable Diffusion") : family_name(r.family)) + xl +
                " single-file checkpoint (LDM layout) with " + parts_text(r.parts);
    if (!texts_desc.empty()) r.summary += " (" + texts_desc + ")";
    if (!has_unet) r.notes.push_back("holds no UNet");
    if (vae_p.empty()) r.notes.push_back("holds no VAE: pair it with a separate one");
    if (texts.empty()) r.notes.push_back("holds no text encoder");
  }
  return r;
}

// Files holding one model without an LDM part prefix.
ModelReport classify_standalone(const Shapes& s) {
  ModelReport r;
  const bool diff = get(s, "difference") != nullptr;
  if (get(s, "input_hint_block.0.weight") || get(s, arch::kUniControlMarker) ||
      (diff && any_under(s, "zero_convs."))) {
    r.kind = ModelKind::ControlNet;
    r.layout = diff ? Layout::Difference : Layout::PrefixStripped;
    r.parts = {"controlnet"};
    r.locations["controlnet"] = {"", r.layout};
    UNetInfo u = analyse_unet(s, "");
    r.family = u.family;
    add_unet_facts(r, u);
    put(r, "hint_channels", dim(get(s, "input_hint_block.0.weight"), 1));
    r.summary = diff ? "'difference' ControlNet for " + family_name(r.family) + ", LDM names without a prefix"
                     : "ControlNet for " + family_name(r.family) + ", LDM names with control_model. stripped";
    if (diff) r.notes.push_back("difference: add the base model's UNet weights to the matching ControlNet weights before use");
    mark_unicontrol(r, s, "");
    return r;
  }
  if (get(s, "controlnet_cond_embedding.conv_in.weight")) {
    r.kind = ModelKind::ControlNet;
    r.layout = Layout::Diffusers;
    r.parts = {"controlnet"};
    r.locations["controlnet"] = {"", r.layout};
    UNetInfo u = analyse_unet(s, "");
    r.family = u.family;
    add_unet_facts(r, u);
    put(r, "hint_channels", dim(get(s, "controlnet_cond_embedding.conv_in.weight"), 1));
    r.summary = "ControlNet for " + family_name(r.family) + " (diffusers ControlNetModel names)";
    if (const auto* task = get(s, arch::kUnionMarker)) {  // control/controlnet_union.hpp
      put(r, "union_control_types", dim(task, 0));
      r.summary = "ControlNet Union (" + family_name(r.family) + ", diffusers ControlNetUnionModel names)";
      r.notes.push_back("ControlNet Union: give each control image its type with --control FILE --control-type TYPE "
                        "--control-image IMAGE (docs/controlnet.md)");
    }
    return r;
  }
  const bool ldm_unet = get(s, "input_blocks.0.0.weight") && any_under(s, "time_embed.");
  const bool diffusers_unet = get(s, "conv_in.weight") && any_under(s, "time_embedding.");
  if (ldm_unet || diffusers_unet) {
    r.kind = ModelKind::UNet;
    r.layout = ldm_unet ? Layout::LDM : Layout::Diffusers;
    r.parts = {"unet"};
    r.locations["unet"] = {"", r.layout};
    UNetInfo u = analyse_unet(s, "");
    r.family = u.family;
    add_unet_facts(r, u);
    r.summary = family_name(r.family) + " UNet alone (" +
                (ldm_unet ? "LDM names without a prefix" : "diffusers UNet2DConditionModel names") + ")";
    return r;
  }
  const VaeInfo v = analyse_vae(s, "");
  if (v.present) {
    r.kind = ModelKind::VAE;
    r.layout = v.layout;
    r.parts = {"vae"};
    r.locations["vae"] = {"", r.layout};
    put(r, "latent_channels", v.latent_channels);
    r.summary = std::string("VAE alone (") + (v.layout == Layout::Diffusers ? "diffusers AutoencoderKL names" : "LDM names") + ")";
    return r;
  }
  const TextInfo t = analyse_text(s, "");
  if (t.layout != Layout::Unknown) {
    r.kind = ModelKind::TextEncoder;
    r.layout = t.layout;
    r.parts = {"text_encoder"};
    r.locations["text_encoder"] = {t.inner, r.layout};
    put(r, "text_width", t.width);
    put(r, "text_layers", t.layers);
    // The width tells the model when it is a real one: 768 is CLIP ViT-L (SD 1.x and
    // XL's first encoder), 1024 OpenCLIP ViT-H (SD 2.x), 1280 OpenCLIP bigG (XL's second).
    if (t.width == 1024) r.family = Family::SD2;
    if (t.width == 1280) r.family = Family::SDXL;
    r.summary = std::string("text encoder alone (") + (t.layout == Layout::HFClip ? "transformers CLIP" : "OpenCLIP") +
                " names" + (t.projection ? ", with a text projection" : "") + ")";
    return r;
  }
  r.summary = "no Stable Diffusion, ControlNet or LoRA layout recognised";
  return r;
}

// An ESRGAN-family upscaler: its configuration as the loader infers it, or why it cannot be built.
ModelReport classify_upscaler(const Shapes& s) {
  ModelReport r;
  r.kind = ModelKind::Upscaler;
  r.parts = {"upscaler"};
  try {
    const auto c = upscalers::infer_esrgan(s, "file");
    r.layout = c.layout == upscalers::EsrganLayout::Old       ? Layout::EsrganOld
               : c.layout == upscalers::EsrganLayout::BasicSR ? Layout::EsrganBasicSR
                                                              : Layout::EsrganBsrgan;
    r.prefix = c.prefix;
    r.locations["upscaler"] = {c.prefix, r.layout};
    put(r, "scale", c.scale());
    put(r, "features", c.nf);
    put(r, "blocks", c.nb);
    put(r, "growth_channels", c.gc);
    put(r, "in_channels", c.image_channels());
    put(r, "out_channels", c.out_nc);
    if (c.shuffle) put(r, "pixel_unshuffle", c.shuffle);
    r.summary = c.summary();
    if (!c.prefix.empty()) r.notes.push_back("tensors under " + c.prefix + " (a training wrapper)");
  } catch (const Error& e) {
    r.summary = std::string("ESRGAN-family names, but ") + (std::string(e.what()).substr(6));  // without "file: "
  }
  return r;
}

// An annotator file (annotators/annotator_files.hpp): what it is, which --preprocess names read it.
ModelReport classify_annotator(const annotators::AnnotatorFile& f) {
  ModelReport r;
  r.kind = ModelKind::Annotator;
  r.layout = f.layout == "transformers" ? Layout::Transformers : Layout::Original;
  r.prefix = f.prefix;
  r.parts = {f.kind};
  r.locations[f.kind] = {f.prefix, r.layout};
  if (f.width > 0) put(r, "width", f.width);
  r.summary = annotators::describe_kind(f.kind);  // "a HED annotator file (ControlNetHED, for hed)"
  r.summary[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(r.summary[0])));
  if (!f.variant.empty()) r.summary += ", variant " + f.variant;
  r.summary += "; released as " + annotators::original_file(f);
  const auto users = annotators::preprocess_names_for(f.kind);
  std::string list;
  for (const auto& u : users) list += (list.empty() ? "" : ", ") + u;
  r.notes.push_back(users.empty() ? "no --preprocess name of this build reads it yet"
                                  : "read by --preprocess " + list + " (as <annotator folder>/" +
                                        annotators::find_annotator(users.front())->weights +
                                        ".safetensors, or NAME:file=PATH)");
  if (!f.prefix.empty()) r.notes.push_back("every name under '" + f.prefix + "' (DataParallel)");
  if (f.kind == "lineart")
    r.notes.push_back("sk_model (lineart) and sk_model2 (lineart_coarse) are one network: the tensors cannot tell which");
  return r;
}

// A T2I-Adapter (control/t2i_adapter_arch.hpp): its configuration, or what it is when gen does not run it.
ModelReport classify_t2i_adapter(const Shapes& s) {
  ModelReport r;
  r.kind = ModelKind::T2IAdapter;
  r.parts = {"t2i_adapter"};
  if (const auto what = control::t2i_unsupported_kind(s); !what.empty()) {
    r.layout = Layout::Original;
    r.summary = what + ", which gen does not run";
    r.summary[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(r.summary[0])));
    return r;
  }
  try {
    const auto c = control::infer_t2i_adapter(s, "file");
    r.layout = c.layout == control::T2ILayout::Diffusers ? Layout::Diffusers : Layout::Original;
    r.family = c.sdxl() ? Family::SDXL : Family::Unknown;  // SD 1.x and 2.x adapters share one architecture
    r.prefix = c.prefix;
    r.locations["t2i_adapter"] = {c.prefix, r.layout};
    put(r, "in_channels", c.in_channels);
    put(r, "levels", static_cast<std::int64_t>(c.channels.size()));
    put(r, "model_channels", c.channels.front());
    put(r, "num_res_blocks", c.num_res_blocks);
    r.summary = c.summary();
    r.summary[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(r.summary[0])));
    r.notes.push_back(std::string("kind ") + control::kind_id(c.kind) + "; give it with --adapter (docs/t2i_adapter.md)");
  } catch (const Error& e) {
    r.summary = std::string("T2I-Adapter names, but ") + (std::string(e.what()).substr(6));  // without "file: "
  }
  return r;
}

}  // namespace

ModelReport classify(const std::vector<NamedShape>& tensors) {
  Shapes s;
  for (const auto& t : tensors) s.emplace(t.name, t.shape);
  if (s.empty()) {
    ModelReport r;
    r.kind = ModelKind::Empty;
    r.summary = "no tensors";
    return r;
  }
  if (upscalers::looks_like_esrgan(s)) return classify_upscaler(s);
  if (control::looks_like_t2i_adapter(s)) return classify_t2i_adapter(s);
  if (const auto a = annotators::identify_annotator(s); !a.kind.empty()) return classify_annotator(a);
  bool lora = false;
  for (const auto& kv : s)
    if (is_lora_key(kv.first)) {
      lora = true;
      break;
    }
  ModelReport r = lora ? classify_lora(s) : classify_ldm(s);
  r.ema_tensors = count_under(s, "model_ema.");
  if (r.ema_tensors > 0)
    r.notes.push_back("holds an EMA copy of the UNet (model_ema.*, " + std::to_string(r.ema_tensors) + " tensors)");
  if (r.kind == ModelKind::VAE)
    r.notes.push_back("SD 1.x, 2.x and XL VAEs share one architecture: the family cannot be told from the weights");
  return r;
}

namespace arch {

std::string ldm_ema_name(const std::string& ldm_name) {
  std::string out = "diffusion_model";
  for (char c : ldm_name)
    if (c != '.') out += c;
  return out;
}

}  // namespace arch
}  // namespace gen
